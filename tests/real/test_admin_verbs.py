"""Everyday admin verbs on the real guest: pause/resume, autostart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

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


def test_ssh_config_lets_openssh_and_scp_use_the_pinned_key(api, tiny, vm_name, tmp_path):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    known = tmp_path / "known_hosts"
    proc = vmctl("ssh-config", vm_name, "--known-hosts", str(known))
    assert proc.returncode == 0, proc.stderr
    config = tmp_path / "ssh_config"
    config.write_text(proc.stdout)
    assert known.stat().st_mode & 0o777 == 0o600
    ssh = ["ssh", "-F", str(config), "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    got = subprocess.run([*ssh, vm_name, "uname", "-n"], capture_output=True, text=True, timeout=60)
    assert got.returncode == 0 and got.stdout.strip() == vm_name, got.stderr
    (tmp_path / "f").write_text("via scp\n")
    scp = subprocess.run(["scp", "-F", str(config), "-o", "BatchMode=yes", "-q", str(tmp_path / "f"),
                          f"{vm_name}:/root/f"], capture_output=True, text=True, timeout=60)
    assert scp.returncode == 0, scp.stderr
    assert subprocess.run([*ssh, vm_name, "cat", "/root/f"], capture_output=True, text=True,
                          timeout=60).stdout == "via scp\n"
    # a guest that answers with another key is refused by ssh itself
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEJf3OL41WObkXDHy4XWYHGjJoqwn+KMyXRmsh6uF/DT"
    known.write_text(f"vmctl-{vm_name} {other}\n")
    refused = subprocess.run([*ssh, vm_name, "true"], capture_output=True, text=True, timeout=60)
    assert refused.returncode == 255 and "Host key verification failed" in refused.stderr


def test_a_vm_larger_than_the_host_is_refused_before_anything_is_made(api, tiny, vm_name, leftovers):
    before = leftovers()
    for args, words in ((["--memory", "1T"], "of memory"), (["--cpus", "256"], "vCPUs")):
        proc = vmctl("create", vm_name, *args, "--json")
        error = json.loads(proc.stdout)["error"]
        assert proc.returncode == 6 and words in error["message"] and error["hint"], proc.stdout
    assert leftovers() == before


def test_set_changes_the_size_from_the_next_start_and_says_what_is_live(api, tiny, vm_name):
    api.create(vm_name, start=False)
    proc = vmctl("set", vm_name, "--cpus", "2", "--memory", "768M", "--json")
    assert proc.returncode == 0, proc.stderr
    changes = {c["setting"]: c for c in json.loads(proc.stdout)["changes"]}
    assert changes["cpus"]["value"] == 2 and changes["memory_mib"]["value"] == 768
    assert not changes["cpus"]["live"] and not changes["memory_mib"]["live"]  # it is off
    api.start(vm_name, wait_boot=True)
    out: list[bytes] = []
    api.exec(vm_name, ["nproc"], out=out.append)
    assert b"".join(out).strip() == b"2"
    def guest_mem_kib() -> int:
        out.clear()
        api.exec(vm_name, ["sh", "-c", "grep MemTotal /proc/meminfo"], out=out.append)
        return int(b"".join(out).split()[1])
    before = guest_mem_kib()
    # running: memory through the balloon, at once, up to the started guest's maximum; no
    # hot-pluggable vCPUs in this template: next start only, and why
    proc = vmctl("set", vm_name, "--memory", "512M", "--cpus", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    changes = {c["setting"]: c for c in json.loads(proc.stdout)["changes"]}
    assert changes["memory_mib"]["live"] and changes["memory_mib"]["note"] == ""
    assert not changes["cpus"]["live"] and changes["cpus"]["note"].startswith("from the next start")
    for _ in range(50):  # bounded: the guest's balloon driver inflates within a few seconds
        if guest_mem_kib() <= before - (200 << 10):
            break
        time.sleep(0.2)
    assert guest_mem_kib() <= before - (200 << 10)  # the guest gave 256 MiB back
    proc = vmctl("set", vm_name, "--memory", "1G", "--json")  # above what it started with
    changes = {c["setting"]: c for c in json.loads(proc.stdout)["changes"]}
    assert not changes["memory_mib"]["live"] and "maximum is 768 MiB" in changes["memory_mib"]["note"]
    assert vmctl("set", vm_name, "--memory", "512M").returncode == 0
    api.stop(vm_name, force=True)
    assert (api.info(vm_name).vcpus, api.info(vm_name).memory_mib) == (1, 512)
    assert vmctl("set", vm_name).returncode == 3                       # nothing to set
    assert vmctl("set", vm_name, "--memory", "1T").returncode == 6     # larger than the host
