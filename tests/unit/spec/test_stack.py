"""Stack files: the model a valid file gives, each refusal with its file, line and key
path, variables, replicas, dependency layers; and the documented example."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from vmctl.errors import InvalidInput, NotFound
from vmctl.local.stackfile import load_stack
from vmctl.provision.plan import ACTIONS, load_plan
from vmctl.spec.ports import PortForward
from vmctl.spec.stack import NetworkSpec, Stack, VmSpec, order, parse_stack
from vmctl.spec.stackparts import STEP_ACTIONS, Placement, Provision, Readiness
from vmctl.spec.units import GiB

DOCS = Path(__file__).resolve().parents[3] / "docs"

FULL = """\
version: 1
name: shop
networks:
  lan: {subnet: 10.42.0.0/24}
  mgmt:
vms:
  web:
    image: tiny
    count: 2
    cpus: 2
    memory: 512M
    disk: 4
    networks: [lan, mgmt]
    ready: {port: 80, timeout: 120}
    provision: plans/web.yaml
    labels: {role: web, tier: 1}
  db:
    template: small
    memory: 1024
    ports: [5432:5432, "127.0.0.2:8053:53/udp"]
    networks: [lan]
    ready: {file: /run/db.ready}
    host: db-host
    provision:
      - run: "echo hi"
      - name: wait
        wait_port: 5432
        timeout: 30
  client:
    template: ./xml/client.xml
    depends_on: [web, db]
    host: zone=a,disk=ssd
    internet: true
"""


def parse(text: str, env: dict[str, str] | None = None, **kw) -> Stack:
    return parse_stack(textwrap.dedent(text), "stack.yaml", env or {}, **kw)


def refused(text: str, env: dict[str, str] | None = None, **kw) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        parse(text, env, **kw)
    return info.value


def test_a_full_file_gives_the_expected_model():
    stack = parse(FULL)
    assert stack == Stack(
        name="shop", version=1, source="stack.yaml",
        networks=(NetworkSpec("lan", "10.42.0.0/24"), NetworkSpec("mgmt", None)),
        vms=(
            VmSpec("web", image="tiny", cpus=2, memory_mib=512, disk_bytes=4 * GiB, count=2,
                   networks=("lan", "mgmt"), ready=Readiness("port", port=80, timeout=120),
                   provision=Provision(plan="plans/web.yaml"), labels=(("role", "web"), ("tier", "1"))),
            VmSpec("db", template="small", memory_mib=1024,
                   ports=(PortForward(5432, 5432), PortForward(8053, 53, "udp", "127.0.0.2")),
                   networks=("lan",), ready=Readiness("file", path="/run/db.ready"), host=Placement(host="db-host"),
                   provision=Provision(steps=({"run": "echo hi"}, {"name": "wait", "wait_port": 5432, "timeout": 30}))),
            VmSpec("client", template="./xml/client.xml", depends_on=("web", "db"),
                   host=Placement(labels=(("disk", "ssd"), ("zone", "a"))), internet=True),
        ))
    assert stack.vm("client").ready == Readiness("ssh")
    assert list(stack.instances()) == ["web-1", "web-2", "db", "client"]


def test_replicas_expand_to_numbered_names_and_share_a_layer():
    stack = parse("""\
        version: 1
        name: s
        vms:
          one: {}
          single: {count: 1}
          many: {count: 3}
        """)
    assert [spec.instances() for spec in stack.vms] == [("one",), ("single-1",), ("many-1", "many-2", "many-3")]
    assert order(stack) == [["one", "single-1", "many-1", "many-2", "many-3"]]


def test_order_gives_dependency_layers_in_file_order():
    stack = parse("""\
        version: 1
        name: s
        vms:
          client: {depends_on: [web, db]}
          web: {count: 2, depends_on: [db]}
          db:
          cache:
          monitor: {depends_on: [cache]}
        """)
    assert order(stack) == [["db", "cache"], ["web-1", "web-2", "monitor"], ["client"]]


def test_variables_with_and_without_defaults():
    text = """\
        version: 1
        name: ${STACK:-dev}
        vms:
          web:
            image: ${IMAGE}
            cpus: ${CPUS:-2}
            internet: ${NET:-false}
            memory: ${MEM:-256}M
            labels: {owner: "${USER_NAME:-}"}
            provision: [{run: "echo $$HOME costs $5"}]
        """
    stack = parse(text, {"IMAGE": "debian-12", "NET": "true", "MEM": ""})
    web = stack.vm("web")
    assert (stack.name, web.image, web.cpus, web.internet, web.memory_mib) == ("dev", "debian-12", 2, True, 256)
    assert dict(web.labels) == {"owner": ""}
    assert web.provision == Provision(steps=({"run": "echo $HOME costs $5"},))  # $$ is a $; a lone $ stays
    assert parse(text, {"IMAGE": "tiny", "STACK": "prod", "CPUS": "4"}).vm("web").cpus == 4
    error = refused(text, {})
    assert error.message == "stack.yaml:5: vms.web.image: variable IMAGE is not set"
    assert "${IMAGE:-VALUE}" in error.hint


def test_variables_never_change_the_files_shape():
    error = refused("""\
        version: 1
        name: s
        vms:
          web: {image: "${EVIL}"}
        """, {"EVIL": "tiny\n  cpus: 9"})  # one string value, checked as a name: no new key
    assert error.message == "stack.yaml:4: vms.web.image: invalid image name 'tiny\\n  cpus: 9'"


def test_variables_in_keys_are_not_substituted():
    error = refused("""\
        version: 1
        name: s
        vms:
          ${NAME}: {}
        """, {"NAME": "web"})
    assert error.message == "stack.yaml:4: vms.${NAME}: invalid VM name '${NAME}'"


def test_a_malformed_variable_is_refused():
    assert refused("version: 1\nname: s\nvms: {web: {image: '${bad-name}'}}\n").message == \
        "stack.yaml:3: vms.web.image: a malformed variable in '${bad-name}'"


@pytest.mark.parametrize("text, message", [
    # types
    ("version: 1\nname: s\nvms:\n  web:\n    cpus: two\n",
     "stack.yaml:5: vms.web.cpus: expected a positive integer, got 'two'"),
    ("version: 1\nname: s\nvms:\n  web:\n    cpus: 0\n", "stack.yaml:5: vms.web.cpus: expected a positive integer, got 0"),
    ("version: 1\nname: s\nvms:\n  web:\n    cpus: true\n",
     "stack.yaml:5: vms.web.cpus: expected a positive integer, got true"),
    ("version: 1\nname: s\nvms:\n  web:\n    memory: lots\n", "stack.yaml:5: vms.web.memory: invalid memory 'lots'"),
    ("version: 1\nname: s\nvms:\n  web:\n    memory: 10K\n",
     "stack.yaml:5: vms.web.memory: memory '10K' is less than 1 MiB"),
    ("version: 1\nname: s\nvms:\n  web:\n    disk: [1]\n", "stack.yaml:5: vms.web.disk: expected a disk size, got a list"),
    ("version: 1\nname: s\nvms:\n  web:\n    internet: maybe\n",
     "stack.yaml:5: vms.web.internet: expected true or false, got 'maybe'"),
    ("version: 1\nname: s\nvms:\n  web:\n    depends_on: db\n",
     "stack.yaml:5: vms.web.depends_on: expected a list, got 'db'"),
    ("version: 1\nname: s\nvms: [web]\n",
     "stack.yaml:3: vms: expected a mapping of VM names to their settings, got a list"),
    ("version: 1\nname: s\nvms:\n  web: 3\n", "stack.yaml:4: vms.web: expected a mapping, got 3"),
    ("- 1\n", "stack.yaml:1: top level: expected a mapping of version, name, vms and networks, got a list"),
    ("version: 1\nname: s\nvms:\n  web:\n    ready: http\n",
     "stack.yaml:5: vms.web.ready: expected ssh, or a mapping with port or file, got 'http'"),
    ("version: 1\nname: s\nvms:\n  web:\n    ready: {port: 80, file: /x}\n",
     "stack.yaml:5: vms.web.ready: give exactly one of port and file"),
    ("version: 1\nname: s\nvms:\n  web:\n    ready: {file: run/x}\n",
     "stack.yaml:5: vms.web.ready.file: expected an absolute path in the guest, got 'run/x'"),
    ("version: 1\nname: s\nvms:\n  web:\n    ports: ['8080:80', 'x:80']\n",
     "stack.yaml:5: vms.web.ports[1]: invalid port forward 'x:80'"),
    ("version: 1\nname: s\nvms:\n  web:\n    provision: ../etc/plan.yaml\n",
     "stack.yaml:5: vms.web.provision: plan file '../etc/plan.yaml' must be a path inside the stack file's directory"),
    ("version: 1\nname: s\nvms:\n  web:\n    provision:\n      - {run: ls, copy: {src: a, dest: /b}}\n",
     "stack.yaml:6: vms.web.provision[0]: the step has several actions (run, copy)"),
    ("version: 1\nname: s\nvms:\n  web:\n    provision: []\n",
     "stack.yaml:5: vms.web.provision: the list of steps is empty"),
    ("version: 1\nname: s\nvms:\n  web:\n    host: 'zone=a,zone=b'\n",
     "stack.yaml:5: vms.web.host: label zone is given twice in 'zone=a,zone=b'"),
    ("version: 1\nname: s\nvms:\n  web:\n    host: Big_Host\n", "stack.yaml:5: vms.web.host: invalid host name 'Big_Host'"),
    ("version: 1\nname: s\nvms:\n  web:\n    labels: {vmctl.stack: x}\n",
     "stack.yaml:5: vms.web.labels.vmctl.stack: label vmctl.stack is vmctl's own"),
    ("version: 1\nname: s\nnetworks:\n  lan: {subnet: 8.8.8.0/24}\nvms: {web: {}}\n",
     "stack.yaml:4: networks.lan.subnet: subnet '8.8.8.0/24' is not a private IPv4 network of /29 or larger"),
    # names
    ("version: 1\nname: s\nvms:\n  Web: {}\n", "stack.yaml:4: vms.Web: invalid VM name 'Web'"),
    ("version: 1\nname: My Stack\nvms: {web: {}}\n", "stack.yaml:2: name: invalid stack name 'My Stack'"),
    ("version: 1\nname: s\nnetworks: {LAN: {}}\nvms: {web: {}}\n", "stack.yaml:3: networks.LAN: invalid network name 'LAN'"),
    # count
    ("version: 1\nname: s\nvms:\n  web:\n    count: 0\n",
     "stack.yaml:5: vms.web.count: expected a count from 1 to 64, got 0"),
    ("version: 1\nname: s\nvms:\n  web:\n    count: 65\n",
     "stack.yaml:5: vms.web.count: expected a count from 1 to 64, got 65"),
    # version
    ("name: s\nvms: {web: {}}\n", "stack.yaml:1: top level: no version"),
    ("version: 2\nname: s\nvms: {web: {}}\n",
     "stack.yaml:1: version: version 2 is not known to this vmctl (it reads version 1)"),
    ("version: '1'\nname: s\nvms: {web: {}}\n", "stack.yaml:1: version: expected a version number, got '1'"),
    # structure
    ("version: 1\nname: s\n", "stack.yaml:1: top level: no vms: the stack has nothing to make"),
    ("version: 1\nname: s\nvms: {}\n", "stack.yaml:3: vms: no VMs"),
    ("", "stack.yaml:1: the file is empty"),
    ("version: 1\nvms:\n  web: {cpus: [1\n", "stack.yaml:4: not valid YAML: while parsing a flow sequence "
                                               "expected ',' or ']', but got '<stream end>'"),
    ("version: 1\nname: s\nvms:\n  web: &base {cpus: 1}\n  api: *base\n",
     "stack.yaml:4: vms.api: the value anchored here is used again through an alias (*NAME)"),
])
def test_refusals_name_the_file_line_and_key(text, message):
    assert refused(text).message == message


def test_unknown_keys_are_refused_with_a_suggestion():
    error = refused("""\
        version: 1
        name: s
        vms:
          web:
            image: tiny
            memroy: 512M
        """)
    assert error.message == "stack.yaml:6: vms.web.memroy: unknown key 'memroy'"
    assert error.hint.startswith("did you mean 'memory'?")
    error = refused("version: 1\nname: s\nvm: {web: {}}\n")
    assert error.message == "stack.yaml:3: vm: unknown key 'vm'" and error.hint.startswith("did you mean 'vms'?")
    error = refused("version: 1\nname: s\nvms: {web: {}}\nzzz: 1\n")
    assert error.message == "stack.yaml:4: zzz: unknown key 'zzz'" and "version, name, vms, networks" in error.hint


def test_duplicate_keys_are_refused_with_both_lines():
    error = refused("""\
        version: 1
        name: s
        vms:
          db: {}
          web:
            cpus: 1
            cpus: 2
        """)
    assert error.message == "stack.yaml:7: vms.web.cpus: key given twice (first on line 6)"
    error = refused("version: 1\nname: s\nvms:\n  db: {}\n  db: {memory: 1G}\n")
    assert error.message == "stack.yaml:5: vms.db: key given twice (first on line 4)"


def test_duplicate_names_after_replica_expansion_are_refused():
    error = refused("""\
        version: 1
        name: s
        vms:
          web: {count: 2}
          web-2: {}
        """)
    assert error.message == "stack.yaml:5: vms.web-2: VM name web-2 is also made by vms.web (line 4)"
    long = "a" * 61
    error = refused(f"version: 1\nname: s\nvms:\n  {long}: {{count: 10}}\n")
    assert error.message == f"stack.yaml:4: vms.{long}: invalid VM name '{long}-10'"


def test_depends_on_an_unknown_vm_is_refused_with_a_suggestion():
    error = refused("""\
        version: 1
        name: s
        vms:
          db: {}
          client:
            depends_on:
              - db
              - dbb
        """)
    assert error.message == "stack.yaml:8: vms.client.depends_on[1]: no VM dbb in this stack"
    assert error.hint == "did you mean 'db'?"


def test_cycles_are_named():
    error = refused("""\
        version: 1
        name: s
        vms:
          c: {depends_on: [b]}
          a: {depends_on: [c]}
          b: {depends_on: [a]}
          d: {depends_on: [a]}
        """)
    assert error.message == "stack.yaml:4: vms.c.depends_on: a cycle: c -> b -> a -> c"
    error = refused("version: 1\nname: s\nvms:\n  a:\n    depends_on: [a]\n")
    assert error.message == "stack.yaml:5: vms.a.depends_on: a cycle: a -> a"


def test_networks_must_be_declared():
    error = refused("""\
        version: 1
        name: s
        networks: {backend: {}}
        vms:
          web: {networks: [backend, bakend]}
        """)
    assert error.message == "stack.yaml:5: vms.web.networks[1]: no network bakend is declared"
    assert error.hint == "did you mean 'backend'?"
    error = refused("version: 1\nname: s\nvms:\n  web: {networks: [lan]}\n")
    assert error.message == "stack.yaml:4: vms.web.networks[0]: no network lan is declared"
    assert "networks: {NAME: {}}" in error.hint


def test_host_ports_are_forwarded_once():
    error = refused("version: 1\nname: s\nvms:\n  a: {ports: ['8080:80']}\n  b:\n    ports: ['22:23', '0.0.0.0:8080:81']\n")
    assert error.message == "stack.yaml:6: vms.b.ports[1]: host port 8080/tcp is already forwarded by vms.a"
    assert parse("version: 1\nname: s\nvms:\n  a: {ports: ['8080:80']}\n  b: {ports: ['8080:80/udp']}\n")
    error = refused("version: 1\nname: s\nvms:\n  web:\n    count: 2\n    ports: ['8080:80']\n")
    assert error.message == "stack.yaml:6: vms.web.ports: 2 replicas cannot all forward the same host ports"


def test_the_name_defaults_to_the_directory_only_when_valid():
    assert parse("version: 1\nvms: {web: {}}\n", default_name="shop").name == "shop"
    assert parse("version: 1\nname: other\nvms: {web: {}}\n", default_name="shop").name == "other"
    error = refused("version: 1\nvms: {web: {}}\n", default_name="My Shop")
    assert error.message == "stack.yaml:1: top level: no name, and the directory's name 'My Shop' is not a valid stack name"
    assert refused("version: 1\nvms: {web: {}}\n").message == "stack.yaml:1: top level: no name"


def test_load_stack_reads_a_file_or_a_directory(tmp_path):
    project = tmp_path / "demo"
    project.mkdir()
    (project / "stack.yaml").write_text("version: 1\nvms:\n  web: {image: '${IMG:-tiny}'}\n")
    for where in (project, project / "stack.yaml"):
        stack = load_stack(where, {})
        assert (stack.name, stack.vm("web").image, stack.source) == ("demo", "tiny", str(project / "stack.yaml"))
    (project / "stack.yaml").write_text("version: 1\nvms:\n  web: {cpus: x}\n")
    with pytest.raises(InvalidInput, match=r"^.*/demo/stack.yaml:3: vms.web.cpus: expected a positive integer"):
        load_stack(project, {})
    with pytest.raises(NotFound):
        load_stack(tmp_path / "none.yaml", {})
    (project / "bin.yaml").write_bytes(b"version: 1\xff\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_stack(project / "bin.yaml", {})


def test_the_documented_example_parses():
    stack = load_stack(DOCS / "examples" / "stack.yaml", {"WEB_CPUS": "2"})
    assert stack.name == "shop" and stack.networks == (NetworkSpec("backend", "10.42.0.0/24"),)
    assert list(stack.instances()) == ["db", "web-1", "web-2", "client"]
    assert order(stack) == [["db"], ["web-1", "web-2"], ["client"]]
    assert stack.vm("web").cpus == 2 and stack.vm("web").image == "tiny"
    assert stack.vm("client").depends_on == ("web", "db")
    assert load_plan(DOCS / "examples" / stack.vm("web").provision.plan).steps  # the plan it names is valid


def test_the_docs_show_the_example_file():
    example = (DOCS / "examples" / "stack.yaml").read_text()
    body = example[example.index("version: 1"):]
    assert f"```yaml\n{body}```" in (DOCS / "stacks.md").read_text()


def test_step_actions_match_the_provisioning_plan():
    assert STEP_ACTIONS == ACTIONS


def test_a_forward_to_the_guests_ssh_port_is_refused_at_its_line():
    with pytest.raises(InvalidInput, match=r"s.yaml:4: vms.a.ports\[0\]: the guest's SSH port is forwarded by vmctl"):
        parse_stack("version: 1\nname: s\nvms:\n  a: {ports: ['2222:22']}\n", "s.yaml", {})
