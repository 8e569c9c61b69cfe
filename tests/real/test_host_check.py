"""`vmctl host check` on this host: KVM tried with a probe guest and refused with the
reason (the host's KVM is a paravirtual variant that cannot run a stock kernel), TCG
stated, versions, and the speed measured and saved for vmctl's waits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

VMCTL = [sys.executable, "-m", "vmctl"]


def test_host_check_tries_kvm_states_tcg_and_measures_the_speed(api, tiny, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}  # not the user's cache
    proc = subprocess.run([*VMCTL, "host", "check", "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert report["can_run_vms"] is True and report["accel"] == "tcg"
    assert checks["libvirt"]["status"] == "ok" and "QEMU" in checks["libvirt"]["detail"]
    assert checks["kvm"]["status"] == "warn" and "KVM cannot run a guest here" in checks["kvm"]["detail"]
    assert "TCG" in checks["kvm"]["detail"] and checks["kvm"]["fix"]
    kvm_probe = next(p for p in report["probes"] if p["accel"] == "kvm")
    assert kvm_probe["ran"] is False and kvm_probe["reason"]
    tcg_probe = next(p for p in report["probes"] if p["accel"] == "tcg")
    assert tcg_probe["ran"] is True and tcg_probe["loop_seconds"] > tcg_probe["native_loop_seconds"] > 0
    assert report["slowdown"] > 1 and checks["speed"]["status"] == "ok"
    saved = json.loads((tmp_path / "cache" / "vmctl" / "host-speed.json").read_text())
    assert saved["tcg"]["slowdown"] == report["slowdown"]
    human = subprocess.run([*VMCTL, "host", "check"], capture_output=True, text=True, timeout=600, env=env)
    assert human.returncode == 0 and "WARN  kvm" in human.stdout and "fix:" in human.stdout


def test_host_cpus_compare_through_libvirt(api):
    """The host-passthrough pre-flight of a migration asks the destination's libvirt to
    compare the source host's CPU (from its capabilities): a host against itself is identical."""
    from vmctl.virt.migrate import compare_host_cpus

    assert compare_host_cpus(api.host, api.host) == ("identical", "the destination's CPU is identical")
