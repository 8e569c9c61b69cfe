"""A stack's VMs at once on the real tiny guest (issue 16 item 2): `cp --stack` to every
VM and back into DEST/VMNAME/ (one VM failing does not stop the other, exit non-zero),
`backup --stack` into DIR/VMNAME, then `down --keep-disks`: the VMs go, their disks stay
in the pool, and a later `up` refuses while they are there (the test then removes them). One two-VM stack for all of it: TCG
boots are slow."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vmctl.ops.volumes import remove_volume_safely
from vmctl.testing.pause import PausedVmctl

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_cp_and_backup_on_a_stack_then_down_keeping_disks(api, tiny, vm_name, leftovers, tmp_path):
    before = leftovers()
    path = tmp_path / "stack.yaml"
    path.write_text(f"version: 1\nname: {vm_name}\nvms:\n  {vm_name}:\n    count: 2\n    memory: 256M\n")
    vms = [f"{vm_name}-1", f"{vm_name}-2"]
    kept: dict[str, list[str]] = {}
    try:
        up = vmctl("up", "-f", str(path))
        assert up.returncode == 0, up.stderr

        # a host file to every VM of the stack
        (tmp_path / "app.conf").write_text("hello stack\n")
        sent = vmctl("cp", "--stack", vm_name, str(tmp_path / "app.conf"), ":/root/app.conf")
        assert sent.returncode == 0, sent.stderr
        for vm in vms:
            assert api.exec_output(vm, ["cat", "/root/app.conf"]).stdout == b"hello stack\n"
            assert f"{vm} | copied {tmp_path / 'app.conf'} -> {vm}:/root/app.conf" in sent.stderr

        # and back, each VM's file into DEST/VMNAME/; a VM without the file fails alone
        assert api.exec(vms[0], ["sh", "-c", "hostname > /root/only-one"]) == 0
        got = vmctl("cp", "--stack", vm_name, ":/root/only-one", str(tmp_path / "got"), "--json")
        assert got.returncode != 0, got.stdout
        outcomes = {o["name"]: o for o in json.loads(got.stdout)}
        assert outcomes[vms[0]]["error"] is None and outcomes[vms[1]]["error"]
        assert (tmp_path / "got" / vms[0] / "only-one").read_text() == f"{vms[0]}\n"
        assert not (tmp_path / "got" / vms[1] / "only-one").exists()

        # one backup per VM, into DIR/VMNAME
        backed = vmctl("backup", "--stack", vm_name, str(tmp_path / "bak"), "--json")
        assert backed.returncode == 0, backed.stdout + backed.stderr
        result = json.loads(backed.stdout)
        assert [v["name"] for v in result["vms"]] == vms and all(v["error"] is None for v in result["vms"])
        for vm in vms:
            assert (tmp_path / "bak" / vm / "manifest.json").is_file()
        again = vmctl("backup", "--stack", vm_name, str(tmp_path / "bak"))  # DIR/VMNAME exist: each refused
        assert again.returncode != 0 and again.stderr.count("exists already") == 2, again.stderr

        down = vmctl("down", "--name", vm_name, "--keep-disks", "--json")
        assert down.returncode == 0, down.stderr
        result = json.loads(down.stdout)
        kept = result["kept"]
        assert sorted(result["removed"]) == vms and sorted(kept) == vms
        api.pool.refresh()
        for vm in vms:
            assert not any(v.name == vm for v in api.list())
            assert f"{api.pool.path}/{vm}-vda.qcow2" in kept[vm]
            assert not any(p.endswith(".iso") for p in kept[vm])  # the seed goes
            assert all(api.pool.has_volume(Path(p).name) for p in kept[vm])
        blocked = vmctl("up", "-f", str(path))  # the kept disks are the user's: up does not take them over
        assert blocked.returncode == 5 and f"volume {vms[0]}-vda.qcow2 exists already" in blocked.stderr, blocked.stderr
        assert not any(v.name in vms for v in api.list())
    finally:
        for volumes in kept.values():
            for volume in volumes:
                remove_volume_safely(api.host, api.pool, Path(volume).name)
        if any(v.name in vms for v in api.list()):
            vmctl("down", "--name", vm_name)
    assert leftovers() == before


@pytest.mark.parametrize("point", ["delete:recorded", "delete:undefined"])
def test_down_keeping_disks_killed_half_way_is_finished_without_them(api, tiny, vm_name, leftovers, tmp_path,
                                                                      point):
    """SIGKILL inside `down --keep-disks`: the next command (here `repair VM`) finishes the
    delete from its record, which never named the disk: the VM and its seed go, the disk
    stays."""
    before = leftovers()
    (tmp_path / "stack.yaml").write_text(f"version: 1\nname: {vm_name}\nvms:\n  {vm_name}-1:\n    memory: 256M\n")
    vm, disk = f"{vm_name}-1", f"{vm_name}-1-vda.qcow2"
    try:
        assert vmctl("up", "-f", str(tmp_path / "stack.yaml")).returncode == 0
        held = PausedVmctl(["down", "--name", vm_name, "--keep-disks"], point, tmp_path)
        try:
            held.stop(signal.SIGKILL)
        finally:
            held.kill()
        repaired = vmctl("repair", vm)
        assert repaired.returncode == 0, repaired.stderr
        api.pool.refresh()
        assert not any(v.name == vm for v in api.list())
        assert sorted(v for v in api.pool.volume_names() if v.startswith(f"{vm}-") or v.startswith(f"{vm}.")) == [disk]
    finally:
        remove_volume_safely(api.host, api.pool, disk)
        if any(v.name == vm for v in api.list()):
            vmctl("down", "--name", vm_name)
    assert leftovers() == before
