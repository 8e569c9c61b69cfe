"""The hosts inventory against the real libvirtd (issue 16, items 3 and 4): `-H NAME`
reaches it like `-c URI`, and `list --all-hosts` lists its VMs with one line for an
inventory host that does not answer (a socket nobody listens on), never failing whole."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def vmctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_inventory_host_and_a_fleet_list_with_one_host_down(api, tiny, vm_name, tmp_path):
    env = {"VMCTL_HOSTS": str(tmp_path / "hosts.yaml")}
    api.create(vm_name, start=False)
    assert vmctl("host", "add", "here", api.host.uri, "--label", "zone=a", env=env).returncode == 0
    assert vmctl("host", "add", "down", f"qemu+unix:///system?socket={tmp_path}/nobody", env=env).returncode == 0
    assert (tmp_path / "hosts.yaml").stat().st_mode & 0o777 == 0o600

    info = vmctl("-H", "here", "info", vm_name, "--json", env=env)
    assert info.returncode == 0 and json.loads(info.stdout)["name"] == vm_name

    listed = vmctl("list", "--all-hosts", env=env)
    assert listed.returncode == 0, listed.stderr
    assert any(row.split()[:2] == ["here", vm_name] for row in listed.stdout.splitlines())
    assert "host down: unreachable: " in listed.stderr
    hosts = {h["host"]: h for h in json.loads(vmctl("list", "--all-hosts", "--json", env=env).stdout)["hosts"]}
    assert vm_name in [vm["name"] for vm in hosts["here"]["vms"]] and hosts["down"]["error"]


def test_host_stats_of_the_real_host_and_a_dead_one(api, tiny, vm_name, tmp_path):
    env = {"VMCTL_HOSTS": str(tmp_path / "hosts.yaml")}
    api.create(vm_name, start=False)
    assert vmctl("host", "add", "here", api.host.uri, env=env).returncode == 0
    assert vmctl("host", "add", "down", f"qemu+unix:///system?socket={tmp_path}/nobody", env=env).returncode == 0
    done = vmctl("host", "stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    here, down = json.loads(done.stdout)
    assert here["accel"] == api.host_info().accel and here["cpus"] == api.host_info().cpus
    assert here["vms"] >= 1 and here["pool_free_bytes"] > 0 and 0 < here["free_memory_mib"] <= here["memory_mib"]
    assert down["error"] and down["cpus"] == 0
