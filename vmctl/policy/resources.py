"""Does a VM of this size fit on the host? Refused before anything is made, with
the numbers (asked vs there), rather than failing inside QEMU."""

from __future__ import annotations

from vmctl.errors import InsufficientResources
from vmctl.spec.units import format_size


def _gib(mib: int) -> str:
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib} MiB"


def check_fits(*, memory_mib: int, vcpus: int, available_mib: int, total_mib: int, host_cpus: int,
               what: str = "the VM") -> None:
    """``available_mib``: memory the host can give now (free + reclaimable cache)."""
    if memory_mib > total_mib:
        raise InsufficientResources(
            f"{what} asks for {_gib(memory_mib)} of memory; the host has {_gib(total_mib)} in all",
            hint=f"give --memory {_gib(min(available_mib, total_mib)).replace(' GiB', 'G').replace(' MiB', 'M')} or less")
    if memory_mib > available_mib:
        raise InsufficientResources(
            f"{what} asks for {_gib(memory_mib)} of memory; the host has {_gib(available_mib)} available "
            f"(of {_gib(total_mib)})", hint="free memory on the host (stop other VMs), or give a smaller --memory")
    if vcpus > host_cpus:
        raise InsufficientResources(
            f"{what} asks for {vcpus} vCPUs; the host has {host_cpus} CPUs",
            hint=f"give --cpus {host_cpus} or less")


def check_space(*, needed: int, available: int, where: str, what: str, hint: str) -> None:
    """Refuse (exit 6, the numbers) when ``what`` needs more bytes than ``where`` has free."""
    if needed > available:
        raise InsufficientResources(f"not enough space in {where} for {what}: needs {format_size(needed)}, "
                                    f"{format_size(available)} free", hint=hint)
