"""How long to wait for a guest: software emulation (TCG) is several times slower than
KVM, and machines differ. The base figures are for the project's reference machine;
a machine measured slower (``vmctl host check``) waits proportionally longer, a
faster one never less."""

from __future__ import annotations

from vmctl.spec.domain import Accel

BOOT_TIMEOUT = {Accel.TCG: 180.0, Accel.KVM: 60.0}      # start -> boot marker on the console
READY_TIMEOUT = {Accel.TCG: 180.0, Accel.KVM: 90.0}     # -> SSH answers (and boot finished)
STOP_TIMEOUT = 60.0                                     # ACPI power button -> shut off
# The probe's slowdown (guest loop / native loop, vmctl.local.hostspeed) on the reference
# machine the base figures were set on: 2 cores, TCG 10.8x (2026-12-03); KVM runs near native.
REFERENCE_SLOWDOWN = {Accel.TCG: 10.8, Accel.KVM: 1.5}


def scale(accel: Accel, slowdown: float | None) -> float:
    """How many times the base figures this machine needs (never below 1)."""
    if slowdown is None or slowdown <= 0:
        return 1.0
    return max(1.0, slowdown / REFERENCE_SLOWDOWN[accel])


def boot_timeout(accel: Accel, slowdown: float | None = None) -> float:
    return BOOT_TIMEOUT[accel] * scale(accel, slowdown)


def ready_timeout(accel: Accel, slowdown: float | None = None) -> float:
    return READY_TIMEOUT[accel] * scale(accel, slowdown)


def accel_of_domain_type(domain_type: str) -> Accel:
    """``<domain type='kvm'>`` runs under KVM; 'qemu' (and anything else) is TCG."""
    return Accel.KVM if domain_type == "kvm" else Accel.TCG
