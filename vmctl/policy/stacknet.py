"""A stack's private networks, decided before anything is made (pure).

Each network of a stack file is an isolated libvirt network on the host: a bridge with
no address of the host on it, no DHCP and no DNS (no dnsmasq), no route anywhere. vmctl
gives each VM on it a static address, remembered in the VM's labels
(``vmctl.stack.net.NET=ADDRESS``) so that a re-run, or a replica added later, never moves
it, and writes every peer's name into each VM's ``/etc/hosts``: VMs reach each other by
name, and nothing else reaches them over it.

The guest finds its NIC on a network by the MAC address, which is derived from the
stack, the VM and the network (the same on every run, and unique within the stack).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from vmctl.errors import InvalidInput
from vmctl.spec.stack import Stack

NET_LABEL_PREFIX = "vmctl.stack.net."
DEFAULT_SUBNET = "10.213.{index}.0/24"  # isolated: it only has to differ between one VM's networks
FIRST_HOST = 10                         # .1-.9 left free (a gateway added later); subnets under /26: from .1


@dataclass(frozen=True)
class PrivateNet:
    """One of the stack's networks as libvirt sees it."""

    entry: str        # its name in the stack file
    name: str         # the libvirt network's name
    bridge: str       # the host's bridge (at most 15 characters)
    subnet: ipaddress.IPv4Network


@dataclass(frozen=True)
class Attachment:
    """A VM's NIC on a private network: the MAC it is found by and its address there."""

    net: PrivateNet
    mac: str
    address: ipaddress.IPv4Address

    @property
    def cidr(self) -> str:
        return f"{self.address}/{self.net.subnet.prefixlen}"


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\0".join(parts).encode()).digest()


def private_nets(stack: Stack) -> list[PrivateNet]:
    """The stack's networks, named ``vmctl-STACK-NET`` (the bridge: ``vmsn`` and a hash)."""
    nets = []
    for index, spec in enumerate(stack.networks):
        name = f"vmctl-{stack.name}-{spec.name}"
        if len(name) > 63:
            raise InvalidInput(f"{stack.source}: networks.{spec.name}: the libvirt network's name {name!r} is longer "
                               "than 63 characters", hint="shorten the stack's or the network's name")
        subnet = ipaddress.IPv4Network(spec.subnet or DEFAULT_SUBNET.format(index=index % 256))
        nets.append(PrivateNet(spec.name, name, "vmsn" + _digest(stack.name, spec.name).hex()[:10], subnet))
    return nets


def nic_mac(stack: str, vm: str, net: str) -> str:
    """The MAC of ``vm``'s NIC on ``net`` (libvirt's 52:54:00 prefix)."""
    tail = _digest("mac", stack, vm, net)[:3]
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


def attachments(stack: Stack, existing: Mapping[str, Mapping[str, str]]) -> dict[str, list[Attachment]]:
    """Every VM of the stack (concrete names) -> its NICs on the stack's networks.

    ``existing``: the labels of the stack's VMs that exist; their addresses stay. New VMs
    get the lowest free addresses from .10 up, in file order. Refuses a subnet too small
    for its VMs, and two VMs whose MACs would collide (never silently)."""
    nets = {net.entry: net for net in private_nets(stack)}
    members = {net: [vm for vm, spec in stack.instances().items() if net in spec.networks] for net in nets}
    result: dict[str, list[Attachment]] = {vm: [] for vm in stack.instances()}
    for entry, net in nets.items():
        taken: dict[ipaddress.IPv4Address, str] = {}
        kept: dict[str, ipaddress.IPv4Address] = {}
        for vm in members[entry]:
            address = _label_address(existing.get(vm, {}), entry, net.subnet)
            if address is not None and address not in taken:
                taken[address] = vm
                kept[vm] = address
        first = FIRST_HOST if net.subnet.num_addresses >= 64 else 1
        free = (a for a in net.subnet.hosts() if int(a) - int(net.subnet.network_address) >= first
                and a not in taken)
        macs: dict[str, str] = {}
        for vm in members[entry]:
            address = kept.get(vm) or next(free, None)
            if address is None:
                raise InvalidInput(f"{stack.source}: networks.{entry}: subnet {net.subnet} has no free address for "
                                   f"{vm} ({len(members[entry])} VMs)",
                                   hint="give the network a larger subnet, e.g. subnet: 10.42.0.0/22")
            mac = nic_mac(stack.name, vm, entry)
            if mac in macs:
                raise InvalidInput(f"{stack.source}: VMs {macs[mac]} and {vm} would get the same MAC on network "
                                   f"{entry}", hint="rename one of them")
            macs[mac] = vm
            result[vm].append(Attachment(net, mac, address))
    return result


def _label_address(labels: Mapping[str, str], net: str, subnet: ipaddress.IPv4Network
                   ) -> ipaddress.IPv4Address | None:
    try:
        address = ipaddress.IPv4Address(labels.get(NET_LABEL_PREFIX + net, ""))
    except ValueError:
        return None
    return address if address in subnet else None  # the file's subnet changed: a new address


def address_labels(nics: list[Attachment]) -> dict[str, str]:
    """The labels that remember a VM's addresses."""
    return {NET_LABEL_PREFIX + nic.net.entry: str(nic.address) for nic in nics}


def hosts_lines(vm: str, plan: Mapping[str, list[Attachment]], entry_of: Mapping[str, str]) -> list[str]:
    """``/etc/hosts`` lines for ``vm``: every other VM sharing a network with it, at its
    address on the first network they share, by its name and (for replicas) its entry's
    name too (so ``web`` resolves to every replica)."""
    mine = [nic.net.entry for nic in plan.get(vm, [])]
    lines = []
    for peer, nics in plan.items():
        shared = [nic for nic in nics if nic.net.entry in mine]
        if not shared:
            continue
        names = [peer] + ([entry_of[peer]] if entry_of.get(peer, peer) != peer else [])
        lines.append(" ".join([str(shared[0].address), *names]))
    return lines
