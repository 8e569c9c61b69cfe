"""Deleting volumes never takes one that another domain uses, on this host or another
known host (ops/volumes.py, ops/delete.py), against libvirt's test driver."""

from pathlib import Path

import pytest

from vmctl.errors import Conflict
from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.ops.delete import delete_vm
from vmctl.ops.pool import PoolRef
from vmctl.ops.templates import builtin_dir
from vmctl.ops.volumes import check_removable, known_hosts, remove_volume_safely
from vmctl.policy.ownership import Expected
from vmctl.spec.domain import Accel, DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

POOL = '<pool type="dir"><name>vmctl</name><target><path>/vmctl-pool</path></target></pool>'


def domain_xml(name: str, *disks: str, uuid: str | None = None) -> str:
    spec = DomainSpec(
        name=name, uuid=uuid, accel=Accel.TCG,
        disks=tuple(DiskSpec(d, target=f"vd{chr(97 + i)}") for i, d in enumerate(disks)),
        nics=(NicSpec(ssh_port=10100),), boot=DirectBoot("/k", "/i", "console=ttyS0"),
        meta=VmMeta(image="tiny", template="linux-direct", accel_reason="test", ssh_port=10100,
                    volumes=tuple(Path(d).name for d in disks)),
    )
    return render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), spec)


@pytest.fixture
def host(tmp_path: Path):
    node = tmp_path / "node.xml"
    node.write_text(f"<node>{POOL}</node>")
    with Host(f"test://{node}") as h:
        yield h


@pytest.fixture
def pool(host) -> Pool:
    pool = PoolRef(host, "vmctl", "/vmctl-pool").ensure()
    for name in ("web1-vda.qcow2", "web1-seed.iso", "free.qcow2"):
        pool.create_volume(volume_xml(name, 1 << 30, "qcow2"))
    return pool


@pytest.fixture
def other_host(tmp_path: Path) -> str:
    """Another host (a test driver node of its own) where a domain uses web1's disk:
    what `migrate --keep-source` on shared storage leaves."""
    node = tmp_path / "other.xml"
    node.write_text(f"<node>{POOL}{domain_xml('web1', '/vmctl-pool/web1-vda.qcow2')}</node>")
    return f"test://{node}"


def test_delete_refuses_when_another_domain_here_uses_a_disk(host, pool):
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2", "/vmctl-pool/web1-seed.iso"))
    domains.define(host, domain_xml("db", "/vmctl-pool/free.qcow2", "/vmctl-pool/web1-seed.iso"))
    with pytest.raises(Conflict, match="cannot delete web1: web1-seed.iso is used by VM db") as err:
        delete_vm(host, pool, "web1")
    assert "nothing was changed" in err.value.hint
    assert domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2") and pool.has_volume("web1-seed.iso")


def test_delete_refuses_when_a_volume_is_backed_by_a_disk(host, pool):
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2"))
    pool.create_volume(volume_xml("snap.qcow2", 1 << 30, "qcow2", backing_path="/vmctl-pool/web1-vda.qcow2"))
    with pytest.raises(Conflict, match=r"web1-vda.qcow2 is used by volume snap.qcow2 \(backed by it\)"):
        delete_vm(host, pool, "web1")
    assert domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2")


def test_delete_keeps_disks_a_domain_on_another_host_uses(host, pool, other_host):
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2", "/vmctl-pool/web1-seed.iso"))
    notes: list[str] = []
    removed = delete_vm(host, pool, "web1", hosts=[other_host], on_note=notes.append)
    assert removed == ["/vmctl-pool/web1-seed.iso"]  # the seed only this host's definition used
    assert not domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2")
    assert notes == [f"kept the volumes other hosts' VMs use: web1-vda.qcow2 is used by VM web1 on {other_host}"]


def test_delete_can_refuse_instead_of_keeping(host, pool, other_host):
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2"))
    with pytest.raises(Conflict, match=f"web1-vda.qcow2 is used by VM web1 on {other_host}"):
        delete_vm(host, pool, "web1", hosts=[other_host], keep_shared=False)
    assert domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2")


def test_an_unreachable_known_host_is_skipped(host, pool, tmp_path):
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2"))
    assert delete_vm(host, pool, "web1", hosts=[f"test://{tmp_path}/missing.xml"]) == ["/vmctl-pool/web1-vda.qcow2"]


def test_remove_volume_safely(host, pool, other_host):
    domains.define(host, domain_xml("db", "/vmctl-pool/web1-seed.iso"))
    with pytest.raises(Conflict, match="cannot remove volume web1-seed.iso: web1-seed.iso is used by VM db"):
        remove_volume_safely(host, pool, "web1-seed.iso")
    with pytest.raises(Conflict, match=f"used by VM web1 on {other_host}"):
        remove_volume_safely(host, pool, "web1-vda.qcow2", hosts=[other_host])
    with pytest.raises(Conflict, match="not the volume vmctl recorded .*free.qcow2: its size is 1073741824 bytes"):
        remove_volume_safely(host, pool, "free.qcow2", expect=Expected("/vmctl-pool/free.qcow2", 4096))
    assert pool.has_volume("free.qcow2") and pool.has_volume("web1-vda.qcow2") and pool.has_volume("web1-seed.iso")
    assert remove_volume_safely(host, pool, "free.qcow2", expect=Expected("/vmctl-pool/free.qcow2", 1 << 30))
    assert not pool.has_volume("free.qcow2")
    assert remove_volume_safely(host, pool, "free.qcow2") is False  # already gone
    assert remove_volume_safely(host, pool, "web1-vda.qcow2")  # nobody on the hosts asked about uses it


def test_remove_volume_safely_besides_the_domain_the_record_removes(host, pool):
    """A dead delete's record lists the domain, then its volumes; repair goes newest first."""
    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2"))
    with pytest.raises(Conflict, match="used by VM web1"):
        remove_volume_safely(host, pool, "web1-vda.qcow2")
    assert remove_volume_safely(host, pool, "web1-vda.qcow2", besides="web1")


def test_a_snapshot_that_names_a_disk_is_a_user(host, pool):
    """A domain whose snapshot (the definition it keeps) names web1's disk, though its
    current definition no longer does."""
    from vmctl.libvirtxml.snapshot import snapshot_xml
    from vmctl.virt import snapshots

    domains.define(host, domain_xml("web1", "/vmctl-pool/web1-vda.qcow2"))
    db = domains.define(host, domain_xml("db", "/vmctl-pool/web1-vda.qcow2"))
    snapshots.create(db, snapshot_xml("s1", memory=False, disks={"vda": "internal"}))
    domains.define(host, domain_xml("db", "/vmctl-pool/free.qcow2", uuid=db.uuid))
    assert "web1-vda" not in domains.lookup(host, "db").xml()
    with pytest.raises(Conflict, match="web1-vda.qcow2 is used by VM db"):
        delete_vm(host, pool, "web1")
    assert domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2")


def test_check_removable_names_every_user(host, pool):
    domains.define(host, domain_xml("a", "/vmctl-pool/web1-vda.qcow2"))
    domains.define(host, domain_xml("b", "/vmctl-pool/web1-vda.qcow2", "/vmctl-pool/web1-seed.iso"))
    with pytest.raises(Conflict) as err:
        check_removable(host, pool, ["web1-vda.qcow2", "web1-seed.iso"], what="remove image x")
    assert err.value.message == ("cannot remove image x: web1-seed.iso is used by VM b; "
                                 "web1-vda.qcow2 is used by VM a, VM b")


def test_known_hosts_are_the_labs_and_those_given(tmp_path, monkeypatch):
    monkeypatch.setenv("VMCTL_LAB_DIR", str(tmp_path))
    (tmp_path / "lab.json").write_text('{"hosts": [{"name": "lab1", "root": "/r1", "host_uuid": "u1"}]}')
    assert [(h.uri, h.uuid, h.label) for h in known_hosts(["test:///x"])] == [
        ("qemu+unix:///system?socket=/r1/run/libvirt-sock", "u1", "lab1"), ("test:///x", "", "test:///x")]


def test_delete_keeping_disks_keeps_the_disks_and_removes_the_seed(host, pool):
    from vmctl.ops.delete import remove_vm

    spec = DomainSpec(  # the seed as the CD-ROM it is on a real VM
        name="web1", accel=Accel.TCG,
        disks=(DiskSpec("/vmctl-pool/web1-vda.qcow2"),
               DiskSpec("/vmctl-pool/web1-seed.iso", target="sda", format="raw", device="cdrom", bus="sata",
                        readonly=True)),
        nics=(NicSpec(ssh_port=10100),), boot=DirectBoot("/k", "/i", "console=ttyS0"),
        meta=VmMeta(image="tiny", template="linux-direct", accel_reason="test", ssh_port=10100,
                    volumes=("web1-vda.qcow2", "web1-seed.iso")))
    domains.define(host, render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), spec))
    done = remove_vm(host, pool, "web1", keep_disks=True)
    assert done.removed == ["/vmctl-pool/web1-seed.iso"] and done.kept == ["/vmctl-pool/web1-vda.qcow2"]
    assert not domains.exists(host, "web1") and pool.has_volume("web1-vda.qcow2")
    assert not pool.has_volume("web1-seed.iso")
