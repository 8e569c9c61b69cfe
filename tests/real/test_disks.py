"""`vmctl disk ls|add|rm|resize` on the real guest: live attach/detach, growing, the
volume going with the VM, a killed add repaired, bad input refused."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def guest_blocks(api, name: str) -> dict[str, int]:
    """The guest's block devices and their sizes in KiB (/proc/partitions)."""
    out: list[bytes] = []
    api.exec(name, ["cat", "/proc/partitions"], out=out.append)
    rows = [line.split() for line in b"".join(out).decode().splitlines()[2:] if line.strip()]
    return {row[3]: int(row[2]) for row in rows}


def settle(api, name: str, check, timeout: float = 30.0) -> dict[str, int]:
    """The guest's block devices once ``check(devices)`` holds (hot-plug and resize reach
    the guest a moment after libvirt returns); bounded."""
    deadline = time.monotonic() + timeout
    while True:
        blocks = guest_blocks(api, name)
        if check(blocks) or time.monotonic() > deadline:
            return blocks
        time.sleep(0.3)


def pool_volumes(api, name: str) -> list[str]:
    api.pool.refresh()
    return sorted(v for v in api.pool.volume_names() if v.startswith(name + "-"))


def test_a_disk_added_live_is_seen_grown_removed_and_goes_with_the_vm(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    proc = vmctl("disk", "add", vm_name, "64M", "--json")
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    assert added["target"] == "vdb" and added["live"] is True
    assert settle(api, vm_name, lambda b: "vdb" in b).get("vdb") == 64 * 1024
    assert [d.target for d in api.disk_list(vm_name)][:2] == ["vda", "vdb"]
    proc = vmctl("disk", "resize", vm_name, "vdb", "96M", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["live"], proc.stderr
    assert settle(api, vm_name, lambda b: b.get("vdb") == 96 * 1024).get("vdb") == 96 * 1024
    assert "grow" in json.loads(proc.stdout)["note"]  # the guest's tools said what they could do
    shrink = vmctl("disk", "resize", vm_name, "vdb", "32M", "--json")
    assert shrink.returncode == 3 and "only grows" in json.loads(shrink.stdout)["error"]["message"]
    assert vmctl("disk", "rm", vm_name, "vdb").returncode == 0
    assert "vdb" not in settle(api, vm_name, lambda b: "vdb" not in b)
    assert pool_volumes(api, vm_name) == [f"{vm_name}-cidata.iso", f"{vm_name}-vda.qcow2"]
    assert vmctl("disk", "add", vm_name, "32M").returncode == 0
    api.delete(vm_name)
    assert pool_volumes(api, vm_name) == []  # the extra disk went with the VM


def test_an_offline_vm_gets_its_disk_at_the_next_start_and_rm_keep_leaves_the_volume(api, tiny, vm_name):
    api.create(vm_name, start=False)
    assert vmctl("disk", "add", vm_name, "32M", "--target", "vdc").returncode == 0
    assert vmctl("disk", "resize", vm_name, "vdc", "48M").returncode == 0
    api.start(vm_name, wait_boot=True)
    assert guest_blocks(api, vm_name)["vdb"] == 48 * 1024  # the guest names its second virtio disk vdb
    proc = vmctl("disk", "rm", vm_name, "vdc", "--keep", "--json")
    assert proc.returncode == 0 and "stays" in json.loads(proc.stdout)["note"]
    assert f"{vm_name}-vdc.qcow2" in pool_volumes(api, vm_name)
    api.pool.delete_volume(f"{vm_name}-vdc.qcow2")  # ours: the test made it


def test_a_killed_disk_add_is_undone_by_repair(api, tiny, vm_name, tmp_path):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    held = PausedVmctl(["disk", "add", vm_name, "32M"], "disk-add:attached", tmp_path)
    held.stop(signal.SIGKILL)
    assert vmctl("repair").returncode == 0
    assert [d.target for d in api.disk_list(vm_name) if d.device == "disk"] == ["vda"]
    assert "vdb" not in settle(api, vm_name, lambda b: "vdb" not in b)
    assert pool_volumes(api, vm_name) == [f"{vm_name}-cidata.iso", f"{vm_name}-vda.qcow2"]
    assert domains.lookup(api.host, vm_name).state() == "running"


def test_bad_disk_requests_change_nothing(api, tiny, vm_name):
    api.create(vm_name, start=False)
    for args, code in ((["rm", vm_name, "vda"], 5), (["rm", vm_name, "vdz"], 4), (["add", vm_name, "1024T"], 6),
                       (["add", vm_name, "32M", "--target", "sdb"], 3), (["resize", vm_name, "vdz", "1G"], 4)):
        proc = vmctl("disk", *args, "--json")
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
    assert pool_volumes(api, vm_name) == [f"{vm_name}-seed.iso", f"{vm_name}-vda.qcow2"]
