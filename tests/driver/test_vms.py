"""Tier 2: lifecycle logic against libvirt's test driver (a fresh host per test).

The test driver cannot upload volumes or run QEMU, so images and booting are
proven in tests/real; here: define/list/info/stop/start/destroy/delete, error
translation and the 'nothing left behind' rules.
"""

from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.errors import Conflict, NotFound, Timeout
from vmctl.libvirtxml.domain import render_domain
from vmctl.spec.domain import Accel, DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.ops.templates import builtin_dir
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.ops.pool import PoolRef
from vmctl.ops.vms import Vms

NODE = """<node>
  <pool type="dir"><name>vmctl</name><target><path>/vmctl-pool</path></target></pool>
</node>"""


@pytest.fixture
def uri(tmp_path: Path) -> str:
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    return f"test://{node}"


@pytest.fixture
def vms(uri):
    with Host(uri) as host:
        yield Vms(host, PoolRef(host, "vmctl", "/vmctl-pool"))


def define(vms: Vms, name: str, labels: tuple[tuple[str, str], ...] = ()) -> None:
    pool = vms.pools.ensure()
    from vmctl.libvirtxml.storage import volume_xml

    pool.create_volume(volume_xml(f"{name}-vda.qcow2", 1 << 30, "qcow2", backing_path="/vmctl-pool/tiny.base.qcow2"))
    spec = DomainSpec(
        name=name, accel=Accel.TCG, disks=(DiskSpec(f"/vmctl-pool/{name}-vda.qcow2"),),
        nics=(NicSpec(ssh_port=10100),), boot=DirectBoot("/k", "/i", "console=ttyS0"),
        meta=VmMeta(image="tiny", template="linux-direct", accel_reason="test", ssh_port=10100, labels=labels),
    )
    domains.define(vms.host, render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), spec))


def test_list_and_info_read_vmctl_metadata(vms):
    define(vms, "web1")
    listed = vms.list()
    assert [v.name for v in listed] == ["web1"]
    info = vms.info("web1")
    assert (info.state, info.image, info.template, info.ssh_port, info.accel) == (
        "shut-off", "tiny", "linux-direct", 10100, "tcg")
    assert info.disks[0].base_image == "tiny" and info.disks[0].size == 1 << 30


def test_list_filters_by_labels_and_info_shows_them(vms):
    define(vms, "web1", (("stack", "shop"), ("tier", "web")))
    define(vms, "db1", (("stack", "shop"), ("tier", "db")))
    define(vms, "other1")
    assert sorted(v.name for v in vms.list({"stack": "shop"})) == ["db1", "web1"]
    assert [v.name for v in vms.list({"stack": "shop", "tier": "db"})] == ["db1"]
    assert vms.list({"stack": "blog"}) == []
    assert len(vms.list()) == 3
    assert vms.info("web1").labels == {"stack": "shop", "tier": "web"}
    assert vms.info("web1").to_dict()["labels"] == {"stack": "shop", "tier": "web"}  # list/info --json
    assert vms.info("other1").labels == {}


def test_cli_refuses_a_bad_label(uri, capsys, monkeypatch):
    assert run(["-c", uri, "list", "--label", "stack=a<b", "--json"]) == 3
    assert "invalid value" in capsys.readouterr().out
    assert run(["-c", uri, "create", "web1", "--label", "Stack=x"]) == 3
    assert "invalid label key" in capsys.readouterr().err
    monkeypatch.setenv("VMCTL_LABELS", "ok=1 bad=<x>")
    assert run(["-c", uri, "create", "web1"]) == 3
    assert "VMCTL_LABELS" in capsys.readouterr().err


def test_lifecycle(vms):
    define(vms, "web1")
    assert vms.start("web1").state == "running"
    with pytest.raises(Conflict, match="running"):
        vms.start("web1")
    assert vms.stop("web1").state == "shut-off"
    with pytest.raises(Conflict, match="shut off"):
        vms.stop("web1")
    vms.start("web1")
    assert vms.destroy("web1").state == "shut-off"
    removed = vms.delete("web1")
    assert removed == ["/vmctl-pool/web1-vda.qcow2"]
    assert vms.list() == [] and not vms.pools.ensure().has_volume("web1-vda.qcow2")


def test_delete_keeps_other_vms_volumes(vms):
    define(vms, "a")
    define(vms, "a-b")
    vms.delete("a")
    assert vms.pools.ensure().has_volume("a-b-vda.qcow2") and [v.name for v in vms.list()] == ["a-b"]


def test_missing_vm_is_not_found(vms):
    with pytest.raises(NotFound, match="no VM named 'ghost'"):
        vms.info("ghost")
    with pytest.raises(NotFound):
        vms.delete("ghost")


def test_duplicate_name_conflicts(vms):
    define(vms, "web1")
    with pytest.raises(Conflict, match="already exists"):
        domains.ensure_absent(vms.host, "web1")


def test_wait_for_state_times_out(vms):
    define(vms, "web1")
    dom = domains.lookup(vms.host, "web1")
    with pytest.raises(Timeout):
        dom.wait_for_state({"running"}, 0.3, interval=0.1)


def test_cli_json_on_test_driver(uri, capsys):
    assert run(["-c", uri, "list", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert run(["-c", uri, "info", "ghost", "--json"]) == 4
    out = capsys.readouterr().out
    assert '"code":"not-found"' in out and '"hint"' in out  # (one line: every JSON error is)


def test_cli_host_info_json(uri, capsys):
    assert run(["-c", uri, "host", "info", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"accel": "tcg"' in out or '"accel": "kvm"' in out


def test_unreachable_uri_is_host_error(capsys):
    assert run(["-c", "qemu+unix:///system?socket=/nonexistent/sock", "list"]) == 7
    err = capsys.readouterr().err
    assert "cannot connect" in err and "hint:" in err


def test_reading_commands_change_nothing_on_the_host(tmp_path):
    """list, info, image list, templates, host info, render and a dry-run repair on a host
    without vmctl's pool answer ("no VMs yet") and leave the host as it was; the first
    command that writes makes the pool. (One connection: each test:/// open is a new host.)"""
    from vmctl.api import Vmctl

    node = tmp_path / "empty.xml"
    node.write_text("<node/>")
    with Vmctl(f"test://{node}") as v:
        assert v.list() == [] and v.list_images() == [] and v.templates()
        assert v.host_info().pool_path is None
        assert "<domain" in v.render("example", template="linux-direct")
        assert v.repair(dry_run=True).findings == []
        with pytest.raises(NotFound):
            v.info("ghost")
        assert v.host.conn.listAllStoragePools(0) == []
        v.pool  # a writing command's first step
        assert [p.name() for p in v.host.conn.listAllStoragePools(0)] == ["vmctl"]
