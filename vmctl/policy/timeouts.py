"""How long to wait for a guest: software emulation (TCG) is several times slower than KVM."""

from __future__ import annotations

from vmctl.spec.domain import Accel

BOOT_TIMEOUT = {Accel.TCG: 180.0, Accel.KVM: 60.0}      # start -> boot marker on the console
READY_TIMEOUT = {Accel.TCG: 180.0, Accel.KVM: 90.0}     # -> SSH answers (and boot finished)
STOP_TIMEOUT = 60.0                                     # ACPI power button -> shut off


def boot_timeout(accel: Accel) -> float:
    return BOOT_TIMEOUT[accel]


def ready_timeout(accel: Accel) -> float:
    return READY_TIMEOUT[accel]


def accel_of_domain_type(domain_type: str) -> Accel:
    """``<domain type='kvm'>`` runs under KVM; 'qemu' (and anything else) is TCG."""
    return Accel.KVM if domain_type == "kvm" else Accel.TCG
