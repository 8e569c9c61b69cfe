"""A stack over a three-host lab (issue 16, items 1, 2 and 7): `host: zone=a` spreads two
web replicas over the two hosts labelled zone=a, `host: lab3` puts a database and its
client on lab3, on a private network where they reach each other by name. Re-applied
with no change, listed across hosts (`ps` from another host than the one up ran on), and
placing a third replica while one zone=a host is drained picks the other, torn down
with nothing left on any host. The lab's hosts are reached only through their
sshd (qemu+ssh URIs from the inventory), as real hosts in a rack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vmctl.api import Vmctl, load_stack
from vmctl.ops.inventory import set_drained
from vmctl.testing.lab.testlab import LabView, migration_lab


@pytest.fixture(scope="module")
def lab3(api: Vmctl) -> Iterator[LabView]:
    with migration_lab(3) as view, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMCTL_LAB_DIR", str(view.lab.root))
        yield view


def vmctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_a_stack_placed_over_three_hosts(api, lab3, vm_name, tmp_path, monkeypatch):
    inventory = {"VMCTL_HOSTS": str(tmp_path / "hosts.yaml")}
    monkeypatch.setenv("VMCTL_HOSTS", inventory["VMCTL_HOSTS"])
    for host, zone in (("lab1", "a"), ("lab2", "a"), ("lab3", "b")):
        added = vmctl("host", "add", host, lab3.host(host).uri, "--label", f"zone={zone}", env=inventory)
        assert added.returncode == 0, added.stderr
    web, db, client = f"{vm_name}-web", f"{vm_name}-db", f"{vm_name}-client"
    path = tmp_path / "stack.yaml"
    path.write_text(f"""\
version: 1
name: {vm_name}
networks:
  lan: {{subnet: 10.77.0.0/24}}
vms:
  {web}: {{count: 2, memory: 256M, host: "zone=a"}}
  {db}: {{memory: 256M, host: lab3, networks: [lan]}}
  {client}:
    memory: 256M
    host: lab3
    networks: [lan]
    depends_on: [{db}]
""")
    stack = load_stack(path)
    # up runs on lab1 (-H lab1): it is the inventory's lab1, not a fourth host
    with Vmctl(lab3.host("lab1").uri, labels=api.labels) as here:
        try:
            actions = here.stack_plan(stack)
            plan = {a.vm: (a.kind, a.host) for a in actions}
            # the replicas spread by placement (the most memory free after placing): one on each zone=a host
            spread = sorted([plan.pop(f"{web}-1"), plan.pop(f"{web}-2")])
            assert spread == [("create", "lab1"), ("create", "lab2")]
            assert all("placed by spread" in a.detail for a in actions if a.vm.startswith(web))
            assert plan == {"vmctl-" + vm_name + "-lan": ("network", "lab3"), db: ("create", "lab3"),
                            client: ("create", "lab3")}
            assert all(not lab3.domains(h) for h in ("lab1", "lab2", "lab3"))  # planning made nothing

            done = here.stack_up(stack, base=tmp_path)
            assert set(done.done.values()) == {"created"}
            assert sorted(lab3.where(f"{web}-1") + lab3.where(f"{web}-2")) == ["lab1", "lab2"]
            assert lab3.where(db) == ["lab3"] and lab3.where(client) == ["lab3"]
            with Vmctl(lab3.host("lab3").uri) as on3:
                ping = on3.exec_output(client, ["ping", "-c", "1", "-W", "5", db], timeout=30)
                assert ping.exit_status == 0 and b"10.77.0.10" in ping.stdout, ping.stdout + ping.stderr

            again = here.stack_up(stack, base=tmp_path)
            assert set(again.done.values()) == {"kept"}

            # a command on the stack's VMs wherever they run
            ran = vmctl("exec", "--all-hosts", "--stack", vm_name, "--json", "--", "hostname", env=inventory)
            assert ran.returncode == 0, ran.stdout + ran.stderr
            assert sorted(v["name"] for v in json.loads(ran.stdout)["vms"]) == sorted(
                f"{lab3.where(name)[0]}/{name}" for name in (client, db, f"{web}-1", f"{web}-2"))

            # a command for one host's VMs of the stack refuses rather than quietly miss the others
            one = vmctl("-H", "lab3", "snapshot", "create", "--stack", vm_name, "--json", env=inventory)
            error = json.loads(one.stdout)["error"]
            assert one.returncode == 3 and "has VMs on other hosts too" in error["message"], one.stdout
            assert f"{web}-1" in error["message"] and f"{web}-2" in error["message"] and "--all-hosts" in error["hint"]
            with Vmctl(lab3.host("lab3").uri) as on3:
                assert on3.snapshot_list(db) == [] and on3.snapshot_list(client) == []  # nothing was taken

            # a third replica while the first's host is drained: placed on the other zone=a host
            first = lab3.where(f"{web}-1")[0]
            other = {"lab1": "lab2", "lab2": "lab1"}[first]
            set_drained(first, True)  # the flag `host drain` sets first (without moving anything)
            three = tmp_path / "three.yaml"
            three.write_text(path.read_text().replace("count: 2", "count: 3"))
            third = {a.vm: a for a in here.stack_plan(load_stack(three))}[f"{web}-3"]
            assert (third.kind, third.host) == ("create", other), third
            assert vmctl("host", "undrain", first, env=inventory).returncode == 0

            ps = vmctl("-H", "lab2", "ps", "-f", str(path), "--json", env=inventory)
            assert ps.returncode == 0, ps.stderr
            assert sorted((v["name"], v["host"]) for v in json.loads(ps.stdout)) == sorted(
                [(client, "lab3"), (db, "lab3"), (f"{web}-1", lab3.where(f"{web}-1")[0]),
                 (f"{web}-2", lab3.where(f"{web}-2")[0])])
            # a host of the inventory that does not answer: down removes the rest and says so
            gone = f"qemu+unix:///system?socket={tmp_path}/nobody"
            assert vmctl("host", "add", "gone", gone, env=inventory).returncode == 0
        finally:
            down = vmctl("-H", "lab1", "down", "-f", str(path), "--json", env=inventory)
        assert down.returncode == 7, down.stdout + down.stderr
        error = json.loads(down.stdout)["error"]
        assert "not reached: gone: " in error["message"] and "again" in error["hint"]
        for name in (client, db, f"{web}-1", f"{web}-2"):
            assert name in error["message"]  # what it did remove is said
        assert vmctl("host", "rm", "gone", env=inventory).returncode == 0
        again = vmctl("-H", "lab1", "down", "-f", str(path), "--json", env=inventory)
        assert again.returncode == 0 and json.loads(again.stdout)["removed"] == [], again.stderr
        for host in ("lab1", "lab2", "lab3"):
            assert lab3.domains(host) == {}, host
            assert not lab3.vm_files(host, vm_name), host
        with Vmctl(lab3.local_uri("lab3")) as on3:
            from vmctl.ops.stacknet import stack_networks

            assert stack_networks(on3.host, vm_name) == []
