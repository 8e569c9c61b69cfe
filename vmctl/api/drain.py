"""``vmctl host drain NAME``: every VM off an inventory host, each to the destination
placement chooses, by :meth:`vmctl.api.Vmctl.migrate` (live when it runs, offline when
shut off; shared storage or a copy as its pre-flight decides). The host is marked
drained first, so that placement chooses it for nothing meanwhile; a VM that cannot move
stays where it is, and says why. A second drain continues: the VMs gone are not there.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from vmctl.api.placement import after_placing, choose, gather_facts, own_hosts
from vmctl.errors import InvalidInput, VmctlError
from vmctl.ops.inventory import find_host, set_drained
from vmctl.ops.placement import VmNeeds, host_cpu, vm_needs
from vmctl.policy.placement import WEIGHERS, HostFacts
from vmctl.spec.hosts import HostEntry

if TYPE_CHECKING:
    from vmctl.api import Vmctl


@dataclass(frozen=True)
class DrainStep:
    """One VM of the drained host: where it goes (or why it stays), then what happened.
    ``outcome``: planned, stays (refused before anything moved), moving, moved, failed."""

    vm: str
    state: str
    outcome: str
    destination: str = ""      # inventory host name
    mode: str = ""             # live, offline
    storage: str = ""          # shared, copy
    reason: str = ""           # the placement's reason, or why it stays
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class DrainReport:
    host: str
    dry_run: bool
    steps: tuple[DrainStep, ...]

    @property
    def stayed(self) -> tuple[DrainStep, ...]:
        return tuple(s for s in self.steps if s.outcome not in ("moved", "planned"))

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "dry_run": self.dry_run, "steps": [s.to_dict() for s in self.steps],
                "stayed": [s.vm for s in self.stayed]}


OnStep = Callable[[DrainStep], None]


def plan_drain(name: str, *, weigher: str = "spread", copy_storage: bool = False,
               timeout: float = 30.0, on_step: OnStep | None = None) -> list[tuple[DrainStep, str | None, str]]:
    """For every VM of host ``name``: its step (planned, or stays with the reason), the pool
    its migration goes through, and the destination's URI. Each planned move passed
    placement and the migration's pre-flight (``dry_run``); placing in a row, each VM sees
    the ones placed before it."""
    from vmctl.api import Vmctl

    entry = find_host(name)
    facts: list[HostFacts] = gather_facts(timeout=timeout)
    plan: list[tuple[DrainStep, str | None, str]] = []
    with Vmctl(entry.uri) as src:
        exclude = (*own_hosts(facts, entry.uri, host_cpu(src.host)[1]), name)
        uris = {f.name: f.uri for f in facts}
        for vm in src.list():
            step, needs, dest_uri = _plan_one(src, entry.uri, vm.name, vm.state, facts, exclude, weigher,
                                              copy_storage, uris)
            if needs is not None:
                facts = after_placing(facts, step.destination, needs.request)
            plan.append((step, needs.pool if needs is not None else None, dest_uri))
            if on_step is not None:
                on_step(step)
    return plan


def _plan_one(src: "Vmctl", uri: str, vm: str, state: str, facts: list[HostFacts], exclude: tuple[str, ...],
              weigher: str, copy_storage: bool, uris: dict[str, str]) -> tuple[DrainStep, VmNeeds | None, str]:
    """One VM's step; its needs and the destination's URI when it is planned to move. A
    destination the migration's pre-flight refuses is left out and placement asked again
    (each host at most once); the VM stays only when no host passes both."""
    from vmctl.api import Vmctl

    refused: list[str] = []
    try:
        needs = vm_needs(src.host, vm)
    except VmctlError as exc:
        return DrainStep(vm, state, "stays", reason=exc.message), None, ""
    left = list(facts)  # the hosts the pre-flight has not refused for this VM
    for _attempt in range(len(facts)):
        try:
            chosen = choose(left, replace(needs.request, exclude=exclude), weigher)
        except VmctlError as exc:
            return DrainStep(vm, state, "stays", reason="; ".join([*refused, exc.message])), None, ""
        try:
            with Vmctl(uri, pool=needs.pool or src.pool_name) as one:
                checked = one.migrate(vm, uris[chosen.host], copy_storage=copy_storage, dry_run=True)
        except VmctlError as exc:
            refused.append(f"{chosen.host}: {exc.message}")
            left = [f for f in left if f.name != chosen.host]
            continue
        reason = chosen.reason + (f" (refused first: {'; '.join(refused)})" if refused else "")
        return DrainStep(vm, state, "planned", chosen.host, checked.mode, checked.storage, reason), needs, \
            uris[chosen.host]
    return DrainStep(vm, state, "stays", reason="; ".join(refused) or "no host to try"), None, ""


def drain(name: str, *, dry_run: bool = False, parallel: int = 1, copy_storage: bool = False,
          weigher: str = "spread", timeout: float = 30.0, on_step: OnStep | None = None) -> DrainReport:
    """Mark host ``name`` drained, plan, then migrate its VMs ``parallel`` at a time.
    ``on_step`` hears each planned step, then each VM as it starts moving and as it ends
    (from worker threads, one call at a time). ``dry_run``: the plan only; nothing is
    changed, not even the drained flag."""
    if parallel < 1:
        raise InvalidInput(f"--parallel {parallel}: at least 1", hint="1 moves one VM at a time")
    if weigher not in WEIGHERS:
        raise InvalidInput(f"unknown placement weigher {weigher!r}", hint="use spread or pack")
    lock = threading.Lock()

    def tell(step: DrainStep) -> None:
        if on_step is not None:
            with lock:
                on_step(step)
    source = (find_host(name) if dry_run else set_drained(name, True)).uri  # (NotFound for an unknown name)
    plan = plan_drain(name, weigher=weigher, copy_storage=copy_storage, timeout=timeout, on_step=tell)
    if dry_run:
        return DrainReport(name, True, tuple(step for step, _pool, _uri in plan))

    def move(item: tuple[DrainStep, str | None, str]) -> DrainStep:
        from vmctl.api import Vmctl

        step, pool, dest_uri = item
        if step.outcome != "planned":
            return step
        tell(replace(step, outcome="moving"))
        started = time.monotonic()
        try:
            with Vmctl(source, pool=pool) as one:
                result = one.migrate(step.vm, dest_uri, copy_storage=copy_storage)
            done = replace(step, outcome="moved", mode=result.mode, storage=result.storage,
                           seconds=round(result.total_seconds, 2))
        except VmctlError as exc:
            done = replace(step, outcome="failed", reason=exc.message, seconds=round(time.monotonic() - started, 2))
        tell(done)
        return done
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="drain") as workers:
        steps = tuple(workers.map(move, plan))
    return DrainReport(name, False, steps)


def undrain(name: str) -> HostEntry:
    """Clear host ``name``'s drained flag: placement may choose it again."""
    return set_drained(name, False)
