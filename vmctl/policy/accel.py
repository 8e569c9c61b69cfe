"""Decide whether KVM can run guests here, or QEMU must emulate (TCG).

"/dev/kvm exists" is not "KVM works": paravirtual KVM variants (``kvm_pvm``) and
some nested CI runners expose /dev/kvm without hardware virtualization. We trust
KVM only when the CPU shows vmx/svm and kvm_intel/kvm_amd is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.errors import HostError
from vmctl.spec.domain import Accel


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
