"""Placement over the hosts inventory, for scripts and the CLI: every host's facts asked in
parallel (the fan-out of :mod:`vmctl.api.hosts`), then the pure choice of
:mod:`vmctl.policy.placement` (filters and the ``spread``/``pack`` weighers).

    choice = place(PlacementRequest(memory_mib=1024, disk_bytes=8 << 30))
    Vmctl(host_uri(choice.host)).create("web1", memory="1G", disk="8G")
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from vmctl.api.hosts import _each_host
from vmctl.errors import InvalidInput
from vmctl.ops.placement import VmNeeds, host_facts, vm_needs
from vmctl.ops.resolve import DEFAULT_MEMORY_MIB  # the built-in templates' memory
from vmctl.policy.placement import (WEIGHERS, HostCpu, HostFacts, NoHostFits, Placement, PlacementRequest, Verdict,
                                    after_placing, place as choose)

if TYPE_CHECKING:
    from vmctl.api import Vmctl

__all__ = ["WEIGHERS", "HostCpu", "HostFacts", "NoHostFits", "Placement", "PlacementRequest", "Verdict", "VmNeeds",
           "after_placing", "choose", "gather_facts", "place", "place_new_vm", "place_vm", "vm_needs"]


def gather_facts(*, timeout: float = 30.0) -> list[HostFacts]:
    """Every inventory host's facts, asked in parallel; a host that does not answer is
    facts with an ``error`` (placement filters it out, saying why). Labels and the
    drained flag come from the inventory file."""
    found = []
    for entry, facts, error in _each_host(lambda api: host_facts(api.host, api.pools.find(), ""), timeout):
        base = facts if facts is not None else HostFacts(entry.name, error=error)
        found.append(replace(base, name=entry.name, labels=entry.labels, drained=entry.drained, uri=entry.uri))
    return found


def place(request: PlacementRequest, *, weigher: str = "spread", exclude: Sequence[str] = (),
          timeout: float = 30.0) -> Placement:
    """The inventory host for a VM asking ``request``, and every host's reason;
    NoHostFits (exit 6) naming each host's reason when none fits. ``exclude``: hosts
    never chosen (by inventory name)."""
    if weigher not in WEIGHERS:
        raise InvalidInput(f"unknown placement weigher {weigher!r}", hint="use spread or pack")
    facts = gather_facts(timeout=timeout)
    return choose(facts, replace(request, exclude=(*request.exclude, *exclude)), weigher)


def own_hosts(facts: Sequence[HostFacts], uri: str, host_uuid: str) -> tuple[str, ...]:
    """The inventory names of the host at ``uri`` (the same URI, or the same libvirt host UUID)."""
    return tuple(f.name for f in facts if f.uri == uri or (host_uuid and f.host_uuid == host_uuid))


def place_vm(api: "Vmctl", name: str, *, weigher: str = "spread", timeout: float = 30.0) -> Placement:
    """A destination for VM ``name`` of ``api``'s host (``migrate NAME auto``): an inventory
    host other than its own, with room for its memory and disks and a CPU that runs it."""
    from vmctl.ops.placement import host_cpu

    if weigher not in WEIGHERS:
        raise InvalidInput(f"unknown placement weigher {weigher!r}", hint="use spread or pack")
    needs = vm_needs(api.host, name)
    facts = gather_facts(timeout=timeout)
    exclude = own_hosts(facts, api.host.uri, host_cpu(api.host)[1])
    return choose(facts, replace(needs.request, exclude=exclude), weigher)


def place_new_vm(*, memory: str | int | None = None, disk: str | int | None = None, cpus: int | None = None,
                 labels: dict[str, str] | None = None, weigher: str = "spread", timeout: float = 30.0) -> Placement:
    """The host for a new VM (``create --host auto``): ``memory`` ('1G', or MiB; default
    512 MiB, the built-in templates'), ``disk`` (the size it grows to: '8G', or bytes;
    default none beyond the linked clone), ``cpus`` (default 1), ``labels`` the host must have."""
    from vmctl.api import _disk_bytes, _memory_mib
    from vmctl.spec.names import check_labels

    memory_mib = _memory_mib(memory) if memory not in (None, "") else DEFAULT_MEMORY_MIB
    disk_bytes = _disk_bytes(disk) if disk not in (None, "") else 0
    request = PlacementRequest(memory_mib=memory_mib, disk_bytes=disk_bytes, cpus=cpus or 1,
                               labels=check_labels(labels))
    return place(request, weigher=weigher, timeout=timeout)

