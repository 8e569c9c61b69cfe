"""`exec --all-hosts` on the real libvirtd through the inventory (issue 16 item 4): the
running VM carrying the label runs the command, its output prefixed HOST/VM; an
inventory host nobody answers for is one line and makes the exit non-zero (the command
did not run there), never a traceback; the guest's failure is the exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def vmctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def test_exec_on_every_host_with_one_host_down(api, tiny, vm_name, tmp_path):
    env = {"VMCTL_HOSTS": str(tmp_path / "hosts.yaml")}
    api.create(vm_name, labels={"fleet-test": vm_name}, wait_boot=True, wait_ssh=True)
    assert vmctl("host", "add", "here", api.host.uri, env=env).returncode == 0
    assert vmctl("host", "add", "down", f"qemu+unix:///system?socket={tmp_path}/nobody", env=env).returncode == 0
    label = ["--label", f"fleet-test={vm_name}"]

    ran = vmctl("exec", "--all-hosts", *label, "--", "hostname", env=env)
    assert ran.returncode == 255, ran.stderr  # it ran everywhere it could; one host did not answer
    assert f"here/{vm_name} | {vm_name}" in ran.stderr.splitlines()
    assert "host down: unreachable: " in ran.stderr and "Traceback" not in ran.stderr

    failed = vmctl("exec", "--all-hosts", *label, "--json", "--", "sh", "-c", "exit 3", env=env)
    result = json.loads(failed.stdout)
    assert failed.returncode == 3 and result["vms"] == [
        {"name": f"here/{vm_name}", "exit_status": 3, "vmctl_exit_code": None, "error": None}]
    assert [u["host"] for u in result["unreachable"]] == ["down"]

    assert vmctl("host", "rm", "down", env=env).returncode == 0
    clean = vmctl("exec", "--all-hosts", *label, "--", "true", env=env)
    assert clean.returncode == 0, clean.stderr
    refused = vmctl("exec", "--all-hosts", "--", "true", env=env)  # no filter: refused, nothing runs
    assert refused.returncode == 255 and "needs a filter" in refused.stderr
