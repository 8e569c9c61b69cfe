"""Create the tiny VM, watch it boot on its console, drive its lifecycle, and
check that delete leaves no domain or volume behind."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import time

from vmctl.cli.app import run
from vmctl.guest.boot import wait_for_console
from vmctl.testing.ndjson import split

from tests.real.conftest import MARKER

BOOTED = "vmctl-guest: boot-finished"


def console_wait(api, name: str, timeout: float = 180) -> list[str]:
    console = api.console(name)
    try:
        return wait_for_console(console, BOOTED, timeout, time.monotonic(), name)[1]
    finally:
        console.close()


def test_full_lifecycle(api, tiny, vm_name, leftovers):
    before = leftovers()
    vm = api.create(vm_name, cpus=2, memory="384M", disk="1G", wait_boot=True)
    assert vm.state == "running" and vm.boot_seconds is not None
    assert any(BOOTED in line for line in vm.console_tail)
    assert any("hostkey-fingerprint SHA256:" in line for line in vm.console_tail)
    host = api.host_info()  # the expected accelerator is the detected one (kvm on a KVM host)
    assert (vm.vcpus, vm.memory_mib, vm.accel, vm.image, vm.template) == (2, 384, host.accel, "tiny", "linux-direct")
    assert vm.accel_reason == host.accel_reason
    assert ("software emulation" in vm.accel_reason) == (host.accel == "tcg")

    disk = vm.disks[0]  # backed by the build of tiny that 'tiny' names now (tiny-<recipe>)
    assert disk.base_image == Path(tiny.path).name.split(".base.")[0] and disk.size == 1 << 30
    assert disk.base_image == f"tiny-{tiny.recipe_id[:8]}"
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", disk.path],
                                     capture_output=True, text=True, check=True).stdout)
    assert info["backing-filename"] == tiny.path and info["backing-filename-format"] == "qcow2"

    assert api.stop(vm_name, timeout=60).state == "shut-off"  # ACPI shutdown honoured by the guest
    vm = api.start(vm_name, wait_boot=True)
    assert vm.state == "running" and any(BOOTED in line for line in vm.console_tail)

    api.reboot(vm_name)
    assert any(BOOTED in line for line in console_wait(api, vm_name))
    assert api.info(vm_name).state == "running"

    assert api.destroy(vm_name).state == "shut-off"
    removed = api.delete(vm_name)
    assert len(removed) == 2  # its disk and its seed, never the base image
    assert leftovers() == before
    assert api.images.exists("tiny")


def test_cli_json_create_list_info_delete(api, tiny, vm_name, leftovers, capsys):
    before = leftovers()
    assert run(["create", vm_name, "--wait", "boot", "--label", "app=web", "--label", "tier=front", "--json"]) == 0
    events, created = split(capsys.readouterr().out)  # NDJSON: the stages reached, then the VM
    stages = [e["stage"] for e in events]
    assert stages[:3] == ["checked: image, template, host resources", "disk and seed made", "defined"]
    assert stages[3].startswith("started") and stages[4].startswith("booted in ")
    for key in ("name", "uuid", "state", "vcpus", "memory_mib", "disks", "accel", "template", "image", "labels"):
        assert key in created
    assert created["state"] == "running" and created["disks"][0]["base_image"] == f"tiny-{tiny.recipe_id[:8]}"
    # --label, and the harness's marker from VMCTL_LABELS (see conftest.py)
    assert created["labels"] == {"app": "web", "tier": "front", **MARKER.labels}

    assert run(["list", "--json"]) == 0
    listed = {vm["name"]: vm for vm in json.loads(capsys.readouterr().out)}
    assert listed[vm_name]["uuid"] == created["uuid"] and listed[vm_name]["labels"] == created["labels"]
    assert run(["list", "--label", "app=web", "--label", f"vmctl.test-run={MARKER.run}", "--json"]) == 0
    assert [vm["name"] for vm in json.loads(capsys.readouterr().out)] == [vm_name]
    assert run(["list", "--label", "app=db", "--label", f"vmctl.test-run={MARKER.run}", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert run(["info", vm_name]) == 0
    assert "app=web tier=front" in capsys.readouterr().out

    assert run(["stop", vm_name, "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "shut-off"
    assert run(["delete", vm_name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == vm_name
    assert leftovers() == before


def test_create_without_start_then_start(api, tiny, vm_name):
    vm = api.create(vm_name, start=False)
    assert vm.state == "shut-off"
    vm = api.start(vm_name, wait_boot=True)
    assert vm.state == "running" and vm.boot_seconds is not None
