"""Everyday admin verbs on the real guest: pause/resume, autostart."""

from __future__ import annotations

import json
import os
import subprocess
import sys

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_pause_keeps_the_guest_and_resume_continues_it(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    api.exec(vm_name, ["sh", "-c", "echo before > /root/state"])
    proc = vmctl("pause", vm_name, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "paused"
    again = vmctl("pause", vm_name, "--json")  # already paused: refused, nothing changes
    assert again.returncode == 5 and "paused" in json.loads(again.stdout)["error"]["message"]
    proc = vmctl("resume", vm_name, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["state"] == "running", proc.stderr
    out: list[bytes] = []
    assert api.exec(vm_name, ["cat", "/root/state"], out=out.append) == 0
    assert b"".join(out) == b"before\n"
    assert vmctl("resume", vm_name).returncode == 5  # running: nothing to resume
    api.stop(vm_name, force=True)
    assert vmctl("pause", vm_name).returncode == 5  # shut off: nothing to pause


def test_autostart_on_and_off(api, tiny, vm_name):
    api.create(vm_name, start=False)
    assert api.info(vm_name).autostart is False
    proc = vmctl("autostart", vm_name, "on", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["autostart"] is True, proc.stderr
    dominfo = subprocess.run(["virsh", "dominfo", vm_name], capture_output=True, text=True).stdout
    assert any(line.split() == ["Autostart:", "enable"] for line in dominfo.splitlines())
    assert "Autostart:    on" in vmctl("info", vm_name).stdout
    assert vmctl("autostart", vm_name, "off").returncode == 0
    assert api.info(vm_name).autostart is False
    bad = vmctl("autostart", vm_name, "maybe")
    assert bad.returncode == 3 and "on|off" in bad.stderr
