"""Snapshots on the real tiny guest: revert brings disk and memory back, groups are all or
nothing, rollback runs revert on failure and on SIGTERM, and every refusal is clear."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.errors import Conflict, NotFound
from vmctl.virt import domains
from vmctl.testing.ndjson import split

VMCTL = [sys.executable, "-m", "vmctl"]


def out_of(api, name: str, argv: list[str]) -> str:
    out: list[bytes] = []
    assert api.exec(name, argv, out=out.append) == 0
    return b"".join(out).decode().strip()


@pytest.fixture
def ready(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    return vm_name


def test_revert_brings_back_disk_memory_and_a_correct_clock(api, ready, capsys):
    name = ready
    out_of(api, name, ["sh", "-c", "echo on-disk > /root/file && sync && echo in-ram > /run/marker"])
    uptime_at_snapshot = float(out_of(api, name, ["cut", "-d", " ", "-f", "1", "/proc/uptime"]))
    boot_id = out_of(api, name, ["cat", "/proc/sys/kernel/random/boot_id"])
    assert run(["snapshot", "create", name, "before", "--description", "known good", "--json"]) == 0
    *stages, snap = [json.loads(x) for x in capsys.readouterr().out.splitlines()]  # NDJSON: stages, result
    assert [s["stage"] for s in stages] == ["locked", "checked", "taken"] and stages[-1]["seconds"] > 0
    assert (snap["name"], snap["memory"], snap["consistency"], snap["state"]) == ("before", True, "memory", "running")
    assert snap["complete"] and snap["description"] == "known good" and snap["size"] > 0
    out_of(api, name, ["sh", "-c", "echo changed > /root/file && echo changed > /run/marker"])
    labels = tuple(sorted({**api.info(name).labels, "added": "after-the-snapshot"}.items()))
    api.vms.update_meta(name, labels=labels)  # what the snapshot's definition does not have
    time.sleep(3)  # the guest's clock must not stay 3 s behind after the revert
    assert run(["snapshot", "revert", name, "before", "--wait", "ssh", "--json"]) == 0
    *stages, result = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [s["stage"] for s in stages] == ["locked", "reverted", "clock set", "ssh ready"]
    assert result["state"] == "running" and result["clock"] == "ssh" and result["ssh_ready_seconds"] is not None
    assert out_of(api, name, ["cat", "/root/file"]) == "on-disk"
    assert out_of(api, name, ["cat", "/run/marker"]) == "in-ram"  # memory came back (tmpfs)
    assert out_of(api, name, ["cat", "/proc/sys/kernel/random/boot_id"]) == boot_id  # the same boot
    assert float(out_of(api, name, ["cut", "-d", " ", "-f", "1", "/proc/uptime"])) < uptime_at_snapshot + 3
    guest_clock = int(out_of(api, name, ["date", "+%s"]))
    assert abs(guest_clock - time.time()) < 3
    # the metadata that must not travel back: the snapshot list, volume ownership, labels
    assert [s.name for s in api.snapshot_list(name)] == ["before"]
    assert api.vms.info_meta(name).snapshots == (("before", "memory", ""),)
    assert api.vms.info_meta(name).labels == labels and api.info(name).labels == dict(labels)  # and labels


def test_shut_off_snapshot_and_revert(api, ready):
    name = ready
    out_of(api, name, ["sh", "-c", "echo first > /root/f && sync"])
    api.stop(name)
    snap = api.snapshot_create(name, "off")
    assert (snap.state, snap.memory, snap.consistency) == ("shutoff", False, "crash-consistent")
    api.start(name, wait_boot=True)
    out_of(api, name, ["sh", "-c", "echo second > /root/f && sync"])
    result = api.snapshot_revert(name, "off")
    assert result.state == "shut-off"
    api.start(name, wait_boot=True)
    assert out_of(api, name, ["cat", "/root/f"]) == "first"


def test_revert_states_and_names(api, ready, capsys):
    name = ready
    first = api.snapshot_create(name)  # generated name
    assert first.name.startswith("snap-")
    assert api.snapshot_revert(name, first.name, state="paused").state == "paused"
    assert domains.lookup(api.host, name).state() == "paused"
    assert api.snapshot_revert(name, first.name, state="running").state == "running"
    assert run(["snapshot", "create", name, first.name]) == 5  # duplicate
    assert "already has a snapshot" in capsys.readouterr().err


def test_refusals(api, ready, capsys, tmp_path):
    name = ready
    assert run(["snapshot", "create", name, "q", "--quiesce", "--disk-only"]) == 3
    err = capsys.readouterr().err
    assert "needs the QEMU guest agent" in err and "hint:" in err  # never a silent downgrade
    assert run(["snapshot", "create", name, "q", "--quiesce"]) == 3
    assert "with --disk-only" in capsys.readouterr().err
    api.snapshot_create(name, "a")
    api.snapshot_create(name, "b")  # child of a
    assert run(["snapshot", "delete", name, "a"]) == 5
    assert "has child snapshots: b" in capsys.readouterr().err
    # mixing internal and external on one VM
    assert run(["snapshot", "create", name, "ext", "--disk-only"]) == 5
    assert "does not mix internal and external" in capsys.readouterr().err
    assert run(["snapshot", "delete", name, "a", "--children"]) == 0
    assert [s.name for s in api.snapshot_list(name)] == []
    # external disk-only: made (overlay owned by the VM), listed with its limit, revert refused
    snap = api.snapshot_create(name, "ext", disk_only=True)
    assert snap.kind == "external" and snap.consistency == "crash-consistent"
    assert f"{name}-vda.ext.qcow2" in api.vms.info_meta(name).volumes
    with pytest.raises(Conflict, match="cannot revert to it"):
        api.snapshot_revert(name, "ext")
    assert run(["snapshot", "revert", name, "missing"]) == 4
    capsys.readouterr()
    removed = api.delete(name)  # the overlay goes with the VM
    assert any(p.endswith(f"{name}-vda.ext.qcow2") for p in removed)


def test_incomplete_snapshot_is_refused_and_repaired(api, ready, tmp_path):
    name = ready
    pause = tmp_path / "pause"
    env = {**os.environ, "VMCTL_TEST_PAUSE_AT": "snapshot-create:taken", "VMCTL_TEST_PAUSE_FILE": str(pause)}
    proc = subprocess.Popen([*VMCTL, "snapshot", "create", name, "half"], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not pause.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    [half] = api.snapshot_list(name)  # reading changes nothing: it shows as incomplete
    assert (half.name, half.complete, half.consistency) == ("half", False, "")
    [finding] = api.repair(name, dry_run=True).findings
    assert (finding.op, finding.action, finding.items) == ("snapshot-create", "undo", [f"snapshot {name}/half"])
    # The next operation on the VM undoes the dead one first: there is nothing to revert to.
    with pytest.raises(NotFound, match="no snapshot named 'half'"):
        api.snapshot_revert(name, "half")
    assert api.snapshot_list(name) == [] and not api.repair(name).findings


def test_external_snapshot_killed_after_libvirt_made_it_is_finished_not_unmade(api, ready, tmp_path):
    """The guest writes to the new overlays once libvirt made the snapshot: repair keeps
    them (they become the VM's own volumes), notes the snapshot, and the guest runs on."""
    from vmctl.testing.pause import PausedVmctl

    name = ready
    PausedVmctl(["snapshot", "create", name, "ext", "--disk-only"], "snapshot-create:taken", tmp_path).kill()
    overlays = [Path(d.path).name for d in api.info(name).disks if ".ext." in d.path]
    assert overlays, "libvirt moved the disk onto an overlay"
    [finding] = api.repair(name).findings
    assert [(o.kind, o.result) for o in finding.outcomes] == [("volume", "kept")] * len(overlays) + [
        ("snapshot", "finished")]
    pool = api.pools.ensure()
    assert all(pool.has_volume(v) for v in overlays)
    [ext] = api.snapshot_list(name)
    assert (ext.name, ext.complete, ext.kind, ext.consistency) == ("ext", True, "external", "crash-consistent")
    assert out_of(api, name, ["sh", "-c", "echo after > /root/after && cat /root/after"]) == "after"
    assert api.info(name).state == "running"
    gone = api.delete(name)  # the overlays are the VM's own now: delete removes them
    assert all(any(g.endswith("/" + v) for g in gone) for v in overlays)


def test_busy_while_a_snapshot_is_taken(api, ready, tmp_path, capsys):
    name = ready
    pause = tmp_path / "pause"
    env = {**os.environ, "VMCTL_TEST_PAUSE_AT": "snapshot-create:recorded", "VMCTL_TEST_PAUSE_FILE": str(pause)}
    proc = subprocess.Popen([*VMCTL, "snapshot", "create", name, "s"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pause.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run(["snapshot", "create", name, "t"]) == 10
        assert run(["stop", name]) == 10
        assert "busy: snapshot-create" in capsys.readouterr().err
    finally:
        pause.unlink()
        proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert [s.name for s in api.snapshot_list(name)] == ["s"]


def test_snapshot_run_reverts_on_failure_keeps_on_success(api, ready, capsys):
    name = ready
    out_of(api, name, ["sh", "-c", "echo v1 > /root/app"])
    status = run(["snapshot", "run", name, "--in-guest", "--", "sh", "-c", "echo v2 > /root/app; exit 3"])
    assert status == 3
    err = capsys.readouterr().err
    assert "reverted" in err and "status 3" in err and "removed snapshot" in err
    assert out_of(api, name, ["cat", "/root/app"]) == "v1"
    assert run(["snapshot", "run", name, "--in-guest", "--", "sh", "-c", "echo v3 > /root/app"]) == 0
    assert out_of(api, name, ["cat", "/root/app"]) == "v3"
    assert api.snapshot_list(name) == []  # the temporary snapshot is gone either way
    assert run(["snapshot", "run", name, "--keep", "--", "false"]) == 1
    [kept] = api.snapshot_list(name)
    assert kept.name.startswith("rollback-")


def test_sigterm_during_snapshot_run_reverts(api, ready, tmp_path):
    name = ready
    out_of(api, name, ["sh", "-c", "echo v1 > /root/app"])
    proc = subprocess.Popen([*VMCTL, "snapshot", "run", name, "--in-guest", "--", "sh", "-c",
                             "echo v2 > /root/app; sleep 60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out_of(api, name, ["cat", "/root/app"]) == "v2":
            break
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "reverted" in err and "interrupted" in err
    assert out_of(api, name, ["cat", "/root/app"]) == "v1"
    assert api.snapshot_list(name) == []


CHECKPOINT_SCRIPT = """
import sys, time, vmctl
from vmctl.api import Vmctl
vm = sys.argv[1]
with Vmctl() as api, vmctl.checkpoint(vm):
    api.exec(vm, ["sh", "-c", "echo v2 > /root/app"])
    print("changed", flush=True)
    time.sleep(120)
"""


def test_sigterm_reverts_a_checkpoint_of_a_python_script(api, ready):
    """From the Python API too: a script stopped by SIGTERM inside ``vmctl.checkpoint``
    reverts the VM (the default SIGTERM action would end it without unwinding)."""
    name = ready
    out_of(api, name, ["sh", "-c", "echo v1 > /root/app"])
    proc = subprocess.Popen([sys.executable, "-c", CHECKPOINT_SCRIPT, name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "changed"
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=90)
    assert proc.returncode != 0 and "Interrupted" in err
    assert out_of(api, name, ["cat", "/root/app"]) == "v1"
    assert api.snapshot_list(name) == []


def test_checkpoint_context_manager(api, ready):
    import vmctl

    name = ready
    out_of(api, name, ["sh", "-c", "echo v1 > /root/app"])
    with pytest.raises(RuntimeError), vmctl.checkpoint(name):
        out_of(api, name, ["sh", "-c", "echo v2 > /root/app"])
        raise RuntimeError("the upgrade failed")
    assert out_of(api, name, ["cat", "/root/app"]) == "v1"
    with api.checkpoint(name):
        out_of(api, name, ["sh", "-c", "echo v3 > /root/app"])
    assert out_of(api, name, ["cat", "/root/app"]) == "v3" and api.snapshot_list(name) == []


def test_group_snapshot_is_all_or_nothing(api, tiny, vm_name, capsys):
    second = f"{vm_name}-2"
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    api.create(second, wait_boot=True, wait_ssh=True)
    try:
        for name in (vm_name, second):
            out_of(api, name, ["sh", "-c", "echo before > /root/g"])
        assert run(["snapshot", "create", "--group", "g1", vm_name, second]) == 0
        capsys.readouterr()
        listed = api.snapshot_group_list("g1")
        assert sorted(s.vm for s in listed) == sorted([vm_name, second]) and {s.group for s in listed} == {"g1"}
        # both were paused for the snapshot, so they share one instant, and both run again
        assert {domains.lookup(api.host, n).state() for n in (vm_name, second)} == {"running"}
        for name in (vm_name, second):
            out_of(api, name, ["sh", "-c", "echo after > /root/g"])
        assert run(["snapshot", "revert", "--group", "g1"]) == 0
        for name in (vm_name, second):
            assert out_of(api, name, ["cat", "/root/g"]) == "before"
        # one VM cannot be snapshotted (a duplicate name): no new snapshot on either
        api.snapshot_create(second, "g2")
        assert run(["snapshot", "create", "--group", "g2", vm_name, second]) == 5
        assert "already has a snapshot" in capsys.readouterr().err
        assert [s.name for s in api.snapshot_list(vm_name)] == ["g1"]
        assert sorted(s.name for s in api.snapshot_list(second)) == ["g1", "g2"]
        assert {domains.lookup(api.host, n).state() for n in (vm_name, second)} == {"running"}
    finally:
        api.delete(second)


def test_rollback_script_example_from_the_docs(api, ready, tmp_path):
    """docs/snapshots.md's rollback script: a package upgrade that fails is rolled back."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "snapshots.md").read_text()
    script = doc.split("```bash\n# rollback-upgrade.sh", 1)[1].split("```", 1)[0]
    path = tmp_path / "rollback-upgrade.sh"
    path.write_text("# rollback-upgrade.sh" + script)
    env = {**os.environ, "VM": ready, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    out_of(api, ready, ["sh", "-c", "mkdir -p /opt/app && echo 1.0 > /opt/app/VERSION"])
    proc = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "upgrade failed; rolled back" in proc.stdout
    assert out_of(api, ready, ["cat", "/opt/app/VERSION"]) == "1.0"


def test_backup_of_a_running_vm_restores_as_a_new_vm(api, ready, tmp_path, capsys):
    name = ready
    out_of(api, name, ["sh", "-c", "echo precious > /root/data && sync"])
    boot_id = out_of(api, name, ["cat", "/proc/sys/kernel/random/boot_id"])
    assert run(["backup", name, str(tmp_path / "bk"), "--json"]) == 0
    events, result = split(capsys.readouterr().out)
    assert any(e["event"] == "progress" and e["done"] == e["total"] > 0 for e in events)  # the backup job's bytes
    assert result["running"] and {"manifest.json", "domain.xml", "disk-vda.qcow2", "kernel"} <= set(
        result["files"]) | {"manifest.json"}
    assert out_of(api, name, ["cat", "/proc/sys/kernel/random/boot_id"]) == boot_id  # it never stopped
    copy = f"{name}-copy"
    try:
        assert run(["restore", str(tmp_path / "bk"), "--name", copy]) == 0
        capsys.readouterr()
        restored, original = api.info(copy), api.info(name)
        assert restored.uuid != original.uuid and restored.ssh_port != original.ssh_port
        assert restored.disks[0].base_image is None  # flattened: no backing file
        assert restored.ssh_host_key == original.ssh_host_key  # the guest's own key came along
        assert restored.labels == original.labels and original.labels  # the labels too (the run's marker)
        api.start(copy, wait_boot=True)
        assert out_of(api, copy, ["cat", "/root/data"]) == "precious"
    finally:
        api.delete(copy)
    assert not [v for v in api.pools.ensure().volume_names() if v.startswith(copy)]


def test_damaged_or_tampered_backup_is_refused_with_nothing_made(api, ready, tmp_path, leftovers, capsys):
    api.backup(ready, tmp_path / "bk")
    before = leftovers()
    disk = tmp_path / "bk" / "disk-vda.qcow2"
    with open(disk, "r+b") as fh:  # one flipped byte in the middle of the disk
        fh.seek(disk.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert run(["restore", str(tmp_path / "bk"), "--name", f"{ready}-bad"]) == 3
    assert "does not match its checksum" in capsys.readouterr().err
    (tmp_path / "bk" / "extra.sh").write_text("#!/bin/sh\n")
    assert run(["restore", str(tmp_path / "bk"), "--name", f"{ready}-bad"]) == 3
    assert "does not list: extra.sh" in capsys.readouterr().err
    assert leftovers() == before
