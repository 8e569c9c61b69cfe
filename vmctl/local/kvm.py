"""Reading what this machine's CPU and kernel offer for virtualization."""

from __future__ import annotations

import os
from pathlib import Path

from vmctl.policy.accel import HostVirt


def probe_host(root: Path = Path("/")) -> HostVirt:
    """Read /proc/cpuinfo, /sys/module and /dev/kvm (``root`` lets tests fake them)."""
    cpuinfo = _read(root / "proc/cpuinfo")
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    cpu_flag = "vmx" if "vmx" in flags else "svm" if "svm" in flags else None
    modules_dir = root / "sys/module"
    modules = tuple(
        sorted(m for m in ("kvm", "kvm_intel", "kvm_amd", "kvm_pvm") if (modules_dir / m).exists())
    )
    nested = any(
        _read(modules_dir / m / "parameters/nested").strip() in ("Y", "1")
        for m in ("kvm_intel", "kvm_amd")
    )
    kvm_dev = root / "dev/kvm"
    return HostVirt(
        kvm_device=kvm_dev.exists(),
        kvm_device_usable=kvm_dev.exists() and os.access(kvm_dev, os.R_OK | os.W_OK),
        cpu_flag=cpu_flag,
        kvm_modules=modules,
        nested=nested,
    )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
