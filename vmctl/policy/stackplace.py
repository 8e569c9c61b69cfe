"""Where each VM of a stack goes (pure): the host its ``host:`` names, a host of the
inventory whose labels match its label expression, or (no ``host:``) the host vmctl is
connected to, called ``HERE``.

A VM that exists stays where it is; one that exists on a host its ``host:`` no longer
allows is reported (``misplaced``), never moved by ``up`` (``vmctl migrate`` moves it).
A new VM with several possible hosts goes where placement puts it (the caller's
chooser: free memory and pool space, ``spread``), else where the stack has the fewest
VMs so far, ties broken by the inventory's order. Drained hosts are never chosen by
labels, and a new VM on a drained host named by ``host:`` is refused. All VMs on one private network must end up on one host: an isolated network
joins VMs of one host only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from vmctl.errors import InvalidInput, NotFound
from vmctl.spec.hosts import HostEntry
from vmctl.spec.stack import Stack, VmSpec

HERE = ""


def candidates(stack: Stack, entries: Sequence[HostEntry]) -> dict[str, tuple[str, ...]]:
    """Entry of ``vms:`` -> the hosts its VMs may be made on (inventory names, or HERE)."""
    names = [entry.name for entry in entries]
    drained = {entry.name for entry in entries if entry.drained}
    found: dict[str, tuple[str, ...]] = {}
    for spec in stack.vms:
        where = spec.host
        key = f"{stack.source}: vms.{spec.name}.host"
        if where is None:
            found[spec.name] = (HERE,)
        elif where.host is not None:
            if where.host not in names:
                raise NotFound(f"{key}: no host {where.host!r} in the hosts inventory",
                               hint="see `vmctl host ls`; add it with `vmctl host add NAME URI`")
            found[spec.name] = (where.host,)

        else:
            wanted = set(where.labels)
            matching = [e.name for e in entries if wanted <= set(e.labels)]
            usable = tuple(name for name in matching if name not in drained)
            if not usable:
                expression = ",".join(f"{k}={v}" for k, v in where.labels)
                why = f"only drained ones ({', '.join(matching)})" if matching else "none"
                raise InvalidInput(f"{key}: no host of the inventory has the labels {expression}: {why}",
                                   hint="see `vmctl host ls`; label a host with `vmctl host add NAME URI --label K=V`")
            found[spec.name] = usable
    return found


def drained_targets(stack: Stack, entries: Sequence[HostEntry]) -> dict[str, str]:
    """Entry -> the drained host its ``host: NAME`` names (no new VM goes there)."""
    drained = {entry.name for entry in entries if entry.drained}
    return {spec.name: spec.host.host for spec in stack.vms
            if spec.host is not None and spec.host.host is not None and spec.host.host in drained}


Chooser = Callable[[str, VmSpec, tuple[str, ...]], str]


def assign(stack: Stack, options: Mapping[str, tuple[str, ...]], located: Mapping[str, str],
           choose: Chooser | None = None, drained: Mapping[str, str] | None = None
           ) -> tuple[dict[str, str], dict[str, str]]:
    """(VM -> its host, VM -> why it is misplaced). ``located``: where the stack's
    existing VMs are. ``choose(vm, entry, hosts)`` picks among several possible hosts
    (the caller's placement by free memory and space); without it, the host with the
    fewest of the stack's VMs. ``drained``: entry -> the drained host its ``host:`` names:
    a new VM is refused there."""
    per_host = Counter(located.values())
    where: dict[str, str] = {}
    misplaced: dict[str, str] = {}
    for vm, spec in stack.instances().items():
        allowed = options[spec.name]
        if vm in located:
            where[vm] = located[vm]
            if located[vm] not in allowed:
                misplaced[vm] = (f"on host {_show(located[vm])}, the file places it on {' or '.join(map(_show, allowed))}"
                                 f" (`vmctl migrate {vm} ...` moves it)")
            continue
        if drained and spec.name in drained:
            raise InvalidInput(f"{stack.source}: vms.{spec.name}.host: host {drained[spec.name]} is drained: no new VM "
                               f"({vm}) goes there", hint=f"`vmctl host undrain {drained[spec.name]}` when its "
                               "maintenance is over, or place the VM elsewhere; nothing was changed")
        if choose is not None and len(allowed) > 1:
            where[vm] = choose(vm, spec, allowed)
        else:
            where[vm] = min(allowed, key=lambda host: (per_host[host], allowed.index(host)))
        per_host[where[vm]] += 1
    for net in stack.networks:
        hosts = sorted({where[vm] for vm, spec in stack.instances().items() if net.name in spec.networks})
        if len(hosts) > 1:
            raise InvalidInput(f"{stack.source}: networks.{net.name}: its VMs would be on hosts "
                               f"{', '.join(map(_show, hosts))}, and a private network joins the VMs of one host",
                               hint="place the network's VMs on one host (the same `host:`)")
    return where, misplaced


def _show(host: str) -> str:
    return host or "(this connection)"
