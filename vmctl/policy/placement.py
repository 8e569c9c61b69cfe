"""Which inventory host gets a VM (``create --host auto``, ``migrate NAME auto``, ``host
drain``): filters, then a weigher. Pure: the hosts' facts and the request in, the choice
and every host's reason out.

Filters, in order (the first a host fails is its reason): it answered, it is not
excluded (the VM's own host), not drained, it has every required label, its CPU can
run the guest (same architecture; for a host-passthrough guest the same CPU model and
vendor and at least the source's features, as libvirt requires), enough CPUs for its
vCPUs, enough free memory,
enough free space in the pool. Weighers: ``spread`` (default) puts the VM where the
most memory stays free after it; ``pack`` where the least does (filling hosts one by
one). Ties go to the first name in alphabetical order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from vmctl.errors import InsufficientResources
from vmctl.spec.units import format_size

WEIGHERS = ("spread", "pack")


@dataclass(frozen=True)
class HostCpu:
    """A host's CPU as libvirt names it (its capabilities' ``<host><cpu>``)."""

    arch: str = ""
    model: str = ""
    vendor: str = ""
    features: frozenset[str] = frozenset()

    def describe(self) -> str:
        return " ".join(p for p in (self.vendor, self.model, self.arch) if p) or "unknown CPU"


@dataclass(frozen=True)
class HostFacts:
    """What placement knows of one inventory host (``error``: why nothing else is known)."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    drained: bool = False
    free_memory_mib: int = 0
    pool_free_bytes: int | None = None  # None: the pool is not made there yet (it is on first use)
    cpu: HostCpu = HostCpu()
    cpus: int = 0  # 0: unknown
    uri: str = ""
    host_uuid: str = ""
    error: str | None = None


@dataclass(frozen=True)
class PlacementRequest:
    """What the VM needs. ``passthrough_cpu``: the CPU a host-passthrough guest sees now
    (its source host's); None for a guest with a named or default CPU model."""

    memory_mib: int
    disk_bytes: int = 0
    cpus: int = 1
    labels: tuple[tuple[str, str], ...] = ()
    arch: str = ""
    passthrough_cpu: HostCpu | None = None
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """One host's outcome: kept (``fits``) or filtered out, and the short reason."""

    host: str
    fits: bool
    reason: str
    free_after_mib: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "fits": self.fits, "reason": self.reason, "free_after_mib": self.free_after_mib}


@dataclass(frozen=True)
class Placement:
    host: str
    reason: str
    weigher: str
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "reason": self.reason, "weigher": self.weigher,
                "hosts": [v.to_dict() for v in self.verdicts]}


class NoHostFits(InsufficientResources):
    """No inventory host passes the filters; ``verdicts`` holds each host's reason."""

    def __init__(self, verdicts: Sequence[Verdict]) -> None:
        self.verdicts = tuple(verdicts)
        listing = "; ".join(f"{v.host}: {v.reason}" for v in verdicts) or "the inventory is empty"
        super().__init__(f"no host fits: {listing}",
                         hint="free memory or space on a host, undrain one (`vmctl host undrain NAME`), or add "
                              "one (`vmctl host add NAME URI`); `vmctl host stats` shows them")


def cpu_problem(cpu: HostCpu, request: PlacementRequest) -> str | None:
    """Why ``cpu`` cannot run the guest, or None."""
    if request.arch and cpu.arch and cpu.arch != request.arch:
        return f"CPU architecture {cpu.arch}, the guest needs {request.arch}"
    want = request.passthrough_cpu
    if want is None:
        return None
    if (cpu.vendor, cpu.model) != (want.vendor, want.model):
        return f"host-passthrough guest on {want.describe()}, this host has {cpu.describe()}"
    missing = sorted(want.features - cpu.features)
    if missing:
        return f"host-passthrough guest: this CPU lacks {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else "")
    return None


def judge(facts: HostFacts, request: PlacementRequest) -> Verdict:
    """One host through the filters."""
    def out(reason: str) -> Verdict:
        return Verdict(facts.name, False, reason)
    if facts.error is not None:
        return out(f"unreachable: {facts.error}")
    if facts.name in request.exclude:
        return out("excluded (the VM's own host)")
    if facts.drained:
        return out("drained")
    labels = dict(facts.labels)
    missing = [f"{k}={v}" for k, v in request.labels if labels.get(k) != v]
    if missing:
        return out(f"lacks label {', '.join(missing)}")
    problem = cpu_problem(facts.cpu, request)
    if problem:
        return out(problem)
    if facts.cpus and request.cpus > facts.cpus:
        return out(f"needs {request.cpus} vCPUs, the host has {facts.cpus} CPUs")
    free_after = facts.free_memory_mib - request.memory_mib
    if free_after < 0:
        return out(f"needs {request.memory_mib} MiB memory, {facts.free_memory_mib} MiB free")
    if facts.pool_free_bytes is not None and facts.pool_free_bytes < request.disk_bytes:
        return out(f"needs {format_size(request.disk_bytes)} in the pool, {format_size(facts.pool_free_bytes)} free")
    pool = f"{format_size(facts.pool_free_bytes)} pool free" if facts.pool_free_bytes is not None else "pool made on first use"
    return Verdict(facts.name, True, f"fits: {free_after} MiB memory free after, {pool}", free_after)


def place(hosts: Iterable[HostFacts], request: PlacementRequest, weigher: str = "spread") -> Placement:
    """The chosen host and every host's verdict; NoHostFits naming each host's reason."""
    if weigher not in WEIGHERS:
        from vmctl.errors import InvalidInput

        raise InvalidInput(f"unknown placement weigher {weigher!r}", hint="use spread or pack")
    verdicts = tuple(judge(h, request) for h in sorted(hosts, key=lambda h: h.name))
    kept = [v for v in verdicts if v.fits]
    if not kept:
        raise NoHostFits(verdicts)
    sign = -1 if weigher == "spread" else 1
    best = min(kept, key=lambda v: (sign * (v.free_after_mib or 0), v.host))
    why = "most" if weigher == "spread" else "least"
    reason = f"{weigher}: {why} memory free after placing ({best.free_after_mib} MiB) of {len(kept)} fitting host(s)"
    return Placement(best.host, reason, weigher, verdicts)


def after_placing(hosts: Sequence[HostFacts], chosen: str, request: PlacementRequest) -> list[HostFacts]:
    """``hosts`` as they will be once the VM is on ``chosen`` (its memory and disk taken),
    so that several VMs placed in a row (a drain) see each other."""
    def less(h: HostFacts) -> HostFacts:
        pool = None if h.pool_free_bytes is None else h.pool_free_bytes - request.disk_bytes
        return replace(h, free_memory_mib=h.free_memory_mib - request.memory_mib, pool_free_bytes=pool)
    return [less(h) if h.name == chosen else h for h in hosts]
