"""What `vmctl up` finds and decides for a stack, across the hosts it lives on: the VMs
that exist (and where), the plan's actions (each with its host), every VM's NICs on the
stack's private networks, and the host of each network. Read-only: nothing of the stack
is changed (operations killed earlier are finished or undone first, as before any create).
The decisions themselves are pure: :mod:`vmctl.policy.stackplan`, ``stackplace`` and
``stacknet``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vmctl.errors import Conflict, NotFound, VmctlError
from vmctl.ops.resolve import DEFAULT_MEMORY_MIB

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.api.stackhosts import StackHosts
    from vmctl.ops.vms import VmInfo
    from vmctl.policy.stacknet import Attachment, PrivateNet
    from vmctl.policy.stackplace import Chooser
    from vmctl.policy.stackplan import Action
    from vmctl.spec.stack import Stack, VmSpec


@dataclass
class StackState:
    actions: list["Action"]                 # networks first, then VMs in dependency order
    nics: dict[str, list["Attachment"]]     # VM -> its NICs on the stack's networks
    net_hosts: dict[str, list["PrivateNet"]]  # host -> the networks made there


def open_hosts(here: "Vmctl", stack: "Stack") -> "StackHosts":
    """Connections to every host the stack's ``host:`` keys may place a VM on (the
    inventory is read only when it has some, and kept for the plan)."""
    from vmctl.api.stackhosts import StackHosts, connect
    from vmctl.ops.inventory import list_hosts

    from vmctl.policy.stackplace import candidates

    if all(spec.host is None for spec in stack.vms):
        return StackHosts(here)
    entries = list(list_hosts().hosts)
    needed = {host for allowed in candidates(stack, entries).values() for host in allowed}
    return connect(here, entries, [entry for entry in entries if entry.name in needed], strict=True)


def plan_stack(hosts: "StackHosts", stack: "Stack") -> StackState:
    from vmctl.ops.safety.repair import sweep
    from vmctl.ops.stacknet import stack_networks
    from vmctl.policy.stackplace import HERE, assign, candidates, drained_targets
    from vmctl.policy.stacknet import attachments, private_nets
    from vmctl.policy.stackplan import STACK_LABEL, Action, Existing, network_differences, plan_up

    entries = hosts.entries  # read by open_hosts when the stack has host: keys
    options = {entry: tuple(hosts.here_alias if h == HERE else h for h in allowed)
               for entry, allowed in candidates(stack, entries).items()}
    listed: dict[str, list["VmInfo"]] = {}
    for host in sorted({h for allowed in options.values() for h in allowed}):
        api = hosts.api(host)
        _check_images(api, stack, [spec.name for spec in stack.vms if host in options[spec.name]], host)
        sweep(api.host, api.pool)  # a create killed with an earlier `up` is undone first, then made again
        listed[host] = api.list()
    located: dict[str, str] = {}
    for host, vms in listed.items():
        for vm in vms:
            if vm.labels.get(STACK_LABEL) == stack.name:
                if vm.name in located:
                    raise Conflict(f"stack {stack.name}: VM {vm.name} exists on hosts {located[vm.name]} and {host}",
                                   hint=f"delete one of them (`vmctl -H HOST delete {vm.name}`); nothing was changed")
                located[vm.name] = host
    reasons: dict[str, str] = {}
    where, misplaced = assign(stack, options, located, _chooser(hosts, options, reasons),
                              {entry: hosts.here_alias if h == HERE else h
                               for entry, h in drained_targets(stack, entries).items()})
    found = {vm.name: vm for host, vms in listed.items() for vm in vms
             if located.get(vm.name) == host or (vm.name not in located and where.get(vm.name) == host)}
    actions = plan_up(stack, [Existing(vm.name, tuple(sorted(vm.labels.items())), vm.vcpus, vm.memory_mib, vm.image)
                              for vm in found.values()])
    actions = [replace(a, host=where.get(a.vm, located.get(a.vm, HERE)),
                       kind="differs" if a.vm in misplaced else a.kind,
                       detail="; ".join(filter(None, [a.detail, misplaced.get(a.vm, ""),
                                                      reasons.get(a.vm, "") if a.kind == "create" else ""])))
               for a in actions]
    labels = {name: vm.labels for name, vm in found.items()}
    kept = {a.vm for a in actions if a.kind in ("keep", "differs")}
    nics = attachments(stack, {name: labels[name] for name in kept})
    actions = network_differences(actions, nics, labels)
    # an existing VM is never given a NIC afterwards: only those it has count (peers' /etc/hosts too)
    nics = {vm: [n for n in mine if vm not in kept or _has_label(labels[vm], n)] for vm, mine in nics.items()}
    net_hosts: dict[str, list["PrivateNet"]] = {}
    for net in private_nets(stack):
        members = [where[vm] for vm, spec in stack.instances().items() if net.entry in spec.networks]
        net_hosts.setdefault(members[0] if members else HERE, []).append(net)
    nets = []
    for host, mine_nets in net_hosts.items():
        made = set(stack_networks(hosts.api(host).host, stack.name))
        nets += [Action("network", net.name, net.entry, -1, f"isolated, {net.subnet}, " +
                        ("exists" if net.name in made else "to be made"), host=host) for net in mine_nets]
    return StackState(nets + actions, nics, net_hosts)


def _check_images(api: "Vmctl", stack: "Stack", entries: list[str], host: str) -> None:
    images = {image.name for image in api.list_images()}
    for spec in stack.vms:
        if spec.name in entries and (spec.image or "tiny") not in images:
            where = f"host {host}" if host else "this host"
            raise NotFound(f"{stack.source}: vms.{spec.name}.image: no image {spec.image or 'tiny'!r} on {where}",
                           hint="see `vmctl image list`; import it first (`vmctl image import`)")


def _has_label(labels: "dict[str, str]", nic: "Attachment") -> bool:
    from vmctl.policy.stacknet import NET_LABEL_PREFIX

    return labels.get(NET_LABEL_PREFIX + nic.net.entry) == str(nic.address)


def _chooser(hosts: "StackHosts", options: "dict[str, tuple[str, ...]]", reasons: dict[str, str]
             ) -> "Chooser | None":
    """Placement among several possible hosts (a label expression matching more than one):
    the hosts' free memory and pool space, read once, each VM placed taken off its host's
    figures so that the next one sees it (``spread``: the most memory free after placing).
    Its reason goes into ``reasons``; a VM no host fits is refused before anything."""
    several = sorted({host for allowed in options.values() if len(allowed) > 1 for host in allowed})
    if not several:
        return None
    from vmctl.ops.placement import host_facts
    from vmctl.policy.placement import PlacementRequest, after_placing, place

    facts = [host_facts(hosts.api(h).host, hosts.api(h).pools.find(), h) for h in several]

    def choose(vm: str, spec: "VmSpec", allowed: tuple[str, ...]) -> str:
        nonlocal facts
        request = PlacementRequest(memory_mib=spec.memory_mib or DEFAULT_MEMORY_MIB, disk_bytes=spec.disk_bytes or 0,
                                   cpus=spec.cpus or 1)
        try:
            chosen = place([f for f in facts if f.name in allowed], request)
        except VmctlError as exc:
            exc.message = f"{vm}: {exc.message}"
            raise
        facts = after_placing(facts, chosen.host, request)
        reasons[vm] = f"placed by {chosen.reason}"
        return chosen.host
    return choose
