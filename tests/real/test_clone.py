"""`vmctl clone` on the real guest: a running source copied at one instant without
stopping it, a new identity, linked and full copies, kills at each step repaired,
bad input refused before anything is made."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains

from tests.real.conftest import new_vm_name  # noqa: E402 - the harness journals the name

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def guest(api, name: str, *argv: str) -> str:
    out: list[bytes] = []
    assert api.exec(name, list(argv), out=out.append) == 0
    return b"".join(out).decode()


def nic_mac(api, name: str) -> str:
    """The MAC of the user-mode NIC (on the QEMU command line vmctl writes)."""
    xml = domains.lookup(api.host, name).xml()
    return xml.split("mac=", 1)[1][:17]


@pytest.fixture
def clone_name(api):
    name = new_vm_name() + "-c"
    yield name
    if domains.exists(api.host, name):
        api.delete(name)


def test_a_running_vm_is_cloned_without_stopping_it_into_a_new_identity(api, tiny, vm_name, clone_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    guest(api, vm_name, "sh", "-c", "echo from-source > /root/data; sync")
    proc = vmctl("clone", vm_name, clone_name, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["linked"] and result["from_running"] and result["vm"]["state"] == "shut-off"
    assert api.info(vm_name).state == "running"  # never stopped
    api.start(clone_name, wait_boot=True)
    src, new = api.info(vm_name), api.info(clone_name)
    assert new.uuid != src.uuid and new.ssh_port != src.ssh_port
    assert new.ssh_host_key_fingerprint and new.ssh_host_key_fingerprint != src.ssh_host_key_fingerprint
    assert nic_mac(api, vm_name) != nic_mac(api, clone_name)
    assert guest(api, clone_name, "cat", "/root/data") == "from-source\n"
    assert guest(api, clone_name, "hostname").strip() == clone_name
    guest(api, clone_name, "sh", "-c", "echo changed > /root/data; sync")
    assert guest(api, vm_name, "cat", "/root/data") == "from-source\n"  # the copies are apart
    disk = next(d for d in new.disks if d.device == "disk")
    assert disk.base_image == "tiny-" + tiny.recipe_id[:8]  # linked to the image, not to the source's disk
    api.delete(vm_name)  # the clone does not need its source
    api.stop(clone_name, force=True)
    api.start(clone_name, wait_boot=True)
    assert guest(api, clone_name, "cat", "/root/data") == "changed\n"


def test_a_full_clone_of_a_shut_off_vm_stands_alone(api, tiny, vm_name, clone_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    api.stop(vm_name)
    proc = vmctl("clone", vm_name, clone_name, "--full", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["from_running"] is False
    disk = next(d for d in api.info(clone_name).disks if d.device == "disk")
    assert disk.base_image is None
    api.start(clone_name, wait_boot=True)
    api.wait(clone_name)


@pytest.mark.parametrize("point", ["clone:copied", "clone:disks", "clone:defined"])
def test_a_clone_killed_at_each_step_is_undone_and_the_source_runs_on(api, tiny, vm_name, clone_name, tmp_path,
                                                                      point, leftovers):
    api.create(vm_name, wait_boot=True)
    before = leftovers()
    held = PausedVmctl(["clone", vm_name, clone_name], point, tmp_path)
    held.stop(signal.SIGKILL)
    proc = vmctl("repair", "--json")
    assert proc.returncode == 0, proc.stderr
    assert leftovers() == before
    assert not any(name.startswith(f".{clone_name}") for name in os.listdir(api.pool.path))
    assert api.info(vm_name).state == "running"


def test_bad_clones_are_refused_before_anything_is_made(api, tiny, vm_name, clone_name, leftovers):
    api.create(vm_name, start=False)
    before = leftovers()
    for args, code in (([vm_name, vm_name], 3), (["t-no-such-vm", clone_name], 4), ([vm_name, "Bad Name"], 3)):
        proc = vmctl("clone", *args, "--json")
        assert proc.returncode == code, (args, proc.stdout)
        assert leftovers() == before
    api.create(clone_name, start=False)  # the new name is taken
    taken = leftovers()
    proc = vmctl("clone", vm_name, clone_name, "--json")
    assert proc.returncode == 5 and json.loads(proc.stdout)["error"]["hint"], proc.stdout
    assert leftovers() == taken
