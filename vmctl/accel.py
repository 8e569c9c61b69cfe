"""Decide whether KVM can run guests here, or QEMU must emulate (TCG).

"/dev/kvm exists" is not "KVM works": paravirtual KVM variants (``kvm_pvm``) and
some nested CI runners expose /dev/kvm without hardware virtualization. We trust
KVM only when the CPU shows vmx/svm and kvm_intel/kvm_amd is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import HostError
from vmctl.spec import Accel


@dataclass(frozen=True)
class HostVirt:
    """What the host's CPU and kernel offer for virtualization."""

    kvm_device: bool
    kvm_device_usable: bool
    cpu_flag: str | None  # "vmx", "svm" or None
    kvm_modules: tuple[str, ...]
    nested: bool


@dataclass(frozen=True)
class AccelDecision:
    accel: Accel
    kvm_usable: bool
    nested_available: bool
    reason: str


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


def decide(host: HostVirt, requested: Accel | None = None, *, nested: bool = False) -> AccelDecision:
    """Pick the accelerator: KVM when hardware virtualization really works, else TCG.

    ``requested`` overrides the choice; asking for KVM (or nesting) where it
    cannot work is an error rather than a silent fallback.
    """
    hw_module = any(m in host.kvm_modules for m in ("kvm_intel", "kvm_amd"))
    if not host.kvm_device:
        why_not = "/dev/kvm does not exist"
    elif not host.cpu_flag:
        extra = " (KVM module is kvm_pvm, a paravirtual variant)" if "kvm_pvm" in host.kvm_modules else ""
        why_not = f"/dev/kvm exists but the CPU exposes no hardware virtualization (no vmx/svm flag){extra}"
    elif not hw_module:
        why_not = f"CPU has {host.cpu_flag} but neither kvm_intel nor kvm_amd is loaded"
    else:
        why_not = ""
    kvm_usable = not why_not
    nested_available = kvm_usable and host.nested

    if requested is Accel.TCG:
        return AccelDecision(Accel.TCG, kvm_usable, nested_available, "TCG requested with --accel tcg")
    if requested is Accel.KVM and not kvm_usable:
        raise HostError(f"KVM requested but not usable: {why_not}", hint="use --accel tcg, or omit --accel")
    if nested and not nested_available:
        raise HostError(
            "nested virtualization is not available on this host",
            hint="needs KVM with the kvm_intel/kvm_amd 'nested' parameter enabled; drop --nested",
        )
    if kvm_usable:
        how = "requested with --accel kvm" if requested else f"hardware virtualization ({host.cpu_flag}) available"
        return AccelDecision(Accel.KVM, True, nested_available, f"KVM {how}")
    return AccelDecision(Accel.TCG, False, False, f"software emulation: {why_not}")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
