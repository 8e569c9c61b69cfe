"""`vmctl migrate` between two lab hosts (docs/migration.md): live with shared storage,
live with --copy-storage and --tls, offline, --keep-source. After a live migration
the guest runs on the destination with the same boot and the same disk content,
the source has no copy, and `vmctl exec` reaches it on its new host (SSH jump
through that host's sshd). One lab serves the whole module."""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import replace
from collections.abc import Iterator

import pytest

from vmctl.api import Vmctl
from vmctl.cli.app import run as cli
from vmctl.libvirtxml.facts import parse_domain
from vmctl.testing.lab.testlab import LabView, migration_lab
from vmctl.virt import domains
from vmctl.virt.host import Host



def new_vm_name() -> str:
    return f"t-{os.getpid():x}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def lab(api: Vmctl) -> Iterator[LabView]:
    # the lab's hosts are known hosts (as after `vmctl lab up`): a repair may reach them
    with migration_lab(2) as view, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMCTL_LAB_DIR", str(view.lab.root))
        yield view


def uri(lab: LabView, host: str) -> str:
    return lab.host(host).uri


def guest_facts(v: Vmctl, name: str, path: str = "/root/payload") -> tuple[str, str]:
    """(boot id, sha256 of a file) as the guest sees them."""
    out: list[bytes] = []
    status = v.exec(name, ["sh", "-c", f"cat /proc/sys/kernel/random/boot_id; sha256sum {path}"],
                    out=out.append)
    assert status == 0
    boot_id, digest = b"".join(out).decode().split()[:2]
    return boot_id, digest


def write_payload(v: Vmctl, name: str) -> str:
    """A 1 MiB random file on the guest's disk, synced; returns its sha256."""
    out: list[bytes] = []
    assert v.exec(name, ["sh", "-c", "dd if=/dev/urandom of=/root/payload bs=64k count=16 2>/dev/null && sync && "
                         "sha256sum /root/payload"], out=out.append) == 0
    return b"".join(out).decode().split()[0]


def meta(lab: LabView, host: str, name: str):
    with Host(lab.local_uri(host)) as h:
        return parse_domain(domains.lookup(h, name).xml(inactive=True)).meta


def test_live_with_shared_storage(lab: LabView, monkeypatch, capsys):
    monkeypatch.setenv("VMCTL_POOL", "shared")
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        a.create(name, wait_boot=True, wait_ssh=True, labels={"stack": "shop"})
        digest = write_payload(a, name)
        boot_id, _ = guest_facts(a, name)
    before = meta(lab, "lab1", name)
    assert before.labels == (("stack", "shop"),)

    assert cli(["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2")]) == 0
    out, err = capsys.readouterr()
    assert re.search(rf"migrated {name} \(live, shared storage\) to qemu\+ssh://root@[\d.]+/system in [\d.]+ s "
                     r"\(downtime \d+ ms, [\d.]+ MiB moved\); ssh forward port \d+", out), out
    assert "keyfile" not in out  # the URI is shown short
    for check in ("transport", "destination", "vm", "name", "cpu", "memory", "storage", "snapshots", "lock",
                  "ssh port"):
        assert re.search(rf"^check  {check} +ok ", err, re.M), (check, err)
    assert "shared: the destination sees the same" in err

    assert lab.where(name) == ["lab2"]
    assert lab.domains("lab2")[name] == ("running", True)  # persistent on the destination
    assert meta(lab, "lab2", name) == before  # image, SSH endpoint, pinned key, volumes, provisioning state, labels
    assert not [f for f in lab.files("lab1", "shared") if f.endswith(".intent.json")]
    with Vmctl(uri(lab, "lab2"), pool="shared") as b:
        assert guest_facts(b, name) == (boot_id, digest)  # same boot, same disk content
        assert b.guest().endpoint(name).via == f"ssh jump via {lab.host('lab2').address}"
    assert cli(["-c", uri(lab, "lab2"), "exec", "-n", name, "--", "hostname"]) == 0
    assert capsys.readouterr().out.strip() == name

    # and back, as JSON lines: every check, progress samples, the result
    assert cli(["-c", uri(lab, "lab2"), "migrate", name, uri(lab, "lab1"), "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds.count("check") == 10 and kinds[-1] == "result" and "progress" in kinds
    result = events[-1]
    assert result["mode"] == "live" and result["storage"] == "shared" and result["bytes_moved"] > 0
    assert isinstance(result["downtime_ms"], int) and result["total_seconds"] > 0
    assert all(e["data_total"] > 0 for e in events if e["event"] == "progress")
    assert lab.where(name) == ["lab1"]
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        assert guest_facts(a, name) == (boot_id, digest)
        a.delete(name)
    assert not lab.vm_files("lab1", name, "shared")


def test_live_with_copy_storage_tls_and_a_port_taken_there(lab: LabView, capsys):
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1")) as a:
        a.create(name, wait_boot=True, wait_ssh=True)
        digest = write_payload(a, name)
        boot_id, _ = guest_facts(a, name)
        source_xml = domains.lookup(a.host, name).xml(inactive=True)
    port = parse_domain(source_xml).meta.ssh_port
    own = lab.vm_files("lab1", name)
    assert own == {f"{name}-vda.qcow2", f"{name}-cidata.iso"}
    # Another (shut-off) VM on lab2 already claims the guest's forward port there.
    squatter = f"{name}-sq"
    squat_xml = re.sub(r"<uuid>[^<]*</uuid>", "", source_xml.replace(f"<name>{name}</name>", f"<name>{squatter}</name>"))
    with Host(lab.local_uri("lab2")) as h:
        domains.define(h, squat_xml)

    assert cli(["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2"), "--copy-storage", "--tls"]) == 0
    out, err = capsys.readouterr()
    assert f"migrated {name} (live, copy storage)" in out
    assert "TLS for the migration stream" in err and "transfer: live, copy storage, TLS" in err
    moved = re.search(rf"{port} is taken on the destination: the guest's forward moves to (\d+)", err)
    assert moved, err
    new_port = int(moved.group(1))

    assert lab.where(name) == ["lab2"] and lab.domains("lab2")[name] == ("running", True)
    assert lab.vm_files("lab1", name) == set()  # the source's copies are gone
    assert lab.vm_files("lab2", name) == own     # made on the destination
    after = meta(lab, "lab2", name)
    assert after.ssh_port == new_port != port
    with Host(lab.local_uri("lab2")) as h:
        assert f"hostfwd=tcp:127.0.0.1:{new_port}-:22" in domains.lookup(h, name).xml()
        domains.lookup(h, squatter).undefine()
    assert after == replace(parse_domain(source_xml).meta, ssh_port=new_port)  # the rest travelled unchanged
    with Vmctl(uri(lab, "lab2")) as b:
        assert guest_facts(b, name) == (boot_id, digest)
        b.delete(name)
    assert lab.vm_files("lab2", name) == set()


def test_offline_with_copy_storage_then_started_there(lab: LabView, capsys):
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1")) as a:
        a.create(name, start=False)
    own = lab.vm_files("lab1", name)

    assert cli(["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2"), "--copy-storage"]) == 0
    out, err = capsys.readouterr()
    assert f"migrated {name} (offline, copy storage)" in out and "offline migration" in err
    assert lab.where(name) == ["lab2"] and lab.domains("lab2")[name] == ("shut-off", True)
    assert lab.vm_files("lab1", name) == set() and lab.vm_files("lab2", name) == own
    with Vmctl(uri(lab, "lab2")) as b:
        b.start(name, wait_boot=True)
        assert b.exec(name, ["true"]) == 0
        b.delete(name)


def test_offline_with_shared_storage_and_keep_source(lab: LabView, monkeypatch, capsys):
    monkeypatch.setenv("VMCTL_POOL", "shared")
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        a.create(name, start=False)
    own = lab.vm_files("lab1", name, "shared")

    assert cli(["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2"), "--keep-source"]) == 0
    assert f"migrated {name} (offline, shared storage)" in capsys.readouterr().out
    assert sorted(lab.where(name)) == ["lab1", "lab2"]  # --keep-source: a definition stays on the source
    assert lab.vm_files("lab1", name, "shared") == own  # shared storage is never copied or removed
    with Host(lab.local_uri("lab1")) as h:
        domains.lookup(h, name).undefine()

    assert cli(["-c", uri(lab, "lab2"), "migrate", name, uri(lab, "lab1")]) == 0  # without: it moves
    assert lab.where(name) == ["lab1"] and lab.vm_files("lab1", name, "shared") == own
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        a.delete(name)
    assert lab.vm_files("lab1", name, "shared") == set()


def test_snapshots_travel_and_revert_on_the_new_host(lab: LabView, monkeypatch, capsys):
    """No peer does this: the snapshots' metadata is lifted off the source, the VM
    migrates (shared storage: the snapshot data is inside its disk), and the metadata is
    redefined on the destination, where `snapshot list` and `revert` work."""
    monkeypatch.setenv("VMCTL_POOL", "shared")
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        a.create(name, wait_boot=True, wait_ssh=True)
        assert a.exec(name, ["sh", "-c", "echo before > /root/state && sync"]) == 0
        a.snapshot_create(name, "before", description="on lab1")
        assert a.exec(name, ["sh", "-c", "echo after > /root/state && sync"]) == 0
        a.snapshot_create(name, "after")
    assert cli(["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2")]) == 0
    err = capsys.readouterr().err
    assert re.search(r"^check  snapshots +ok +2 snapshot\(s\), carried along", err, re.M), err
    assert lab.where(name) == ["lab2"]
    with Vmctl(uri(lab, "lab2"), pool="shared") as b:
        snaps = {s.name: s for s in b.snapshot_list(name)}
        assert set(snaps) == {"before", "after"} and snaps["after"].parent == "before" and snaps["after"].current
        assert snaps["before"].consistency == "memory" and snaps["before"].description == "on lab1"
        assert not b.pools.ensure().has_volume(f"{name}.snapshots.json")  # the carried copy is gone
        result = b.snapshot_revert(name, "before", wait_ssh=True)
        assert result.state == "running"
        out: list[bytes] = []
        assert b.exec(name, ["cat", "/root/state"], out=out.append) == 0
        assert b"".join(out).strip() == b"before"
        b.delete(name)
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        assert name not in {vm.name for vm in a.list()}


def test_snapshots_refused_with_copy_storage_and_put_back_after_a_failure(lab: LabView, monkeypatch, capsys,
                                                                         tmp_path):
    import signal

    from vmctl.testing.pause import PausedVmctl

    local = new_vm_name()  # on lab1's own storage: only --copy-storage could move it
    with Vmctl(uri(lab, "lab1")) as a:
        a.create(local, wait_boot=True, wait_ssh=True)
        a.snapshot_create(local, "keep-me")
        # copy-storage would lose the internal snapshots: refused before anything changes
        assert cli(["-c", uri(lab, "lab1"), "migrate", local, uri(lab, "lab2"), "--copy-storage"]) == 5
        assert "--copy-storage copies a disk's current state only" in capsys.readouterr().err
        assert lab.where(local) == ["lab1"] and [s.name for s in a.snapshot_list(local)] == ["keep-me"]
        a.delete(local)
    monkeypatch.setenv("VMCTL_POOL", "shared")
    name = new_vm_name()
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        a.create(name, wait_boot=True, wait_ssh=True)
        a.snapshot_create(name, "keep-me")
    args = ["-c", uri(lab, "lab1"), "migrate", name, uri(lab, "lab2")]
    # SIGTERM just after the metadata was lifted: the migration is undone and the snapshots put back
    held = PausedVmctl(args, "migrate:snapshots-lifted", tmp_path)
    code, _seconds, err = held.stop(signal.SIGTERM)
    assert code == 143, err
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        assert lab.where(name) == ["lab1"] and [s.name for s in a.snapshot_list(name)] == ["keep-me"]
    # SIGKILL there: the next command on the VM (repair, on the source) puts them back
    held = PausedVmctl(args, "migrate:snapshots-lifted", tmp_path)
    held.kill()
    with Vmctl(uri(lab, "lab1"), pool="shared") as a:
        assert a.snapshot_list(name) == []  # lifted, and its owner is dead
        report = a.repair(name)
        assert any("snapshots" in item for f in report.findings for item in f.items), report
        assert lab.where(name) == ["lab1"] and [s.name for s in a.snapshot_list(name)] == ["keep-me"]
        a.delete(name)
