"""vmctl's pytest plugin, used as a user would: pytest runs the sample module from
docs/ (session VM, per-test reset, a VM of the test's own), a failing test gets its
failure bundle, and a host that cannot run VMs skips (or, required, fails)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "examples" / "test_with_vmctl.py"


def plugin_args() -> list[str]:
    """Installed (pip install -e . / the wheel): pytest finds the plugin through its
    pytest11 entry point; a source tree that was not reinstalled names it."""
    installed = any(ep.name == "vmctl" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "vmctl.pytest_plugin"]


def pytest_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", *plugin_args(), "-p", "no:cacheprovider", "-rA",
                           f"--junitxml={junit}", f"--basetemp={tmp_path / 'base'}", *args],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    outcomes = {}
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            kind = next((child.tag for child in case if child.tag in ("failure", "error", "skipped")), "passed")
            outcomes[case.get("name", "")] = kind
    return proc, outcomes


def test_the_sample_module_passes_and_a_failing_test_gets_its_bundle(api, tiny, tmp_path):
    failing = tmp_path / "test_failing.py"
    failing.write_text("def test_fails_in_the_guest(vmctl_vm):\n    vmctl_vm.exec('false')\n")
    proc, outcomes = pytest_run(tmp_path, str(SAMPLE), str(failing), f"--vmctl-artifacts={tmp_path / 'art'}")
    assert outcomes == {"test_the_guest_runs_linux": "passed", "test_a_test_may_leave_a_mess": "passed",
                        "test_a_clean_vm_has_none_of_it": "passed", "test_a_vm_of_its_own": "passed",
                        "test_fails_in_the_guest": "failure"}, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert proc.returncode == 1
    assert "vmctl failure bundle" in proc.stdout
    bundles = list((tmp_path / "art").glob("*test_fails_in_the_guest*/*/dmesg.txt"))
    assert len(bundles) == 1 and "Linux version" in bundles[0].read_text()
    # teardown removed every VM the plugin made (they carry this session's label)
    left = [vm.name for vm in api.list() if "vmctl.pytest" in vm.labels]
    assert left == []


def test_a_host_that_cannot_run_vms_skips_with_the_reason_or_fails_when_required(tmp_path):
    module = tmp_path / "test_needs_vm.py"
    module.write_text("def test_needs_a_vm(vmctl_vm):\n    pass\n")
    absent = "qemu+unix:///system?socket=/nonexistent/libvirt-sock"
    proc, outcomes = pytest_run(tmp_path, str(module), f"--vmctl-uri={absent}")
    assert proc.returncode == 0 and outcomes == {"test_needs_a_vm": "skipped"}, proc.stdout[-3000:]
    assert "this host cannot run VMs" in proc.stdout
    proc, outcomes = pytest_run(tmp_path, str(module), f"--vmctl-uri={absent}", "--vmctl-require")
    assert proc.returncode == 1 and outcomes == {"test_needs_a_vm": "error"}, proc.stdout[-3000:]
