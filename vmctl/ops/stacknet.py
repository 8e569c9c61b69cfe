"""A stack's private networks on a host: made before its VMs, removed after them, and the
guest side (address and ``/etc/hosts``) applied over SSH. Decisions are in
:mod:`vmctl.policy.stacknet`."""

from __future__ import annotations

from vmctl.errors import Conflict
from vmctl.libvirtxml.network import isolated_network_xml, network_stack
from vmctl.policy.stacknet import PrivateNet
from vmctl.virt import networks
from vmctl.virt.host import Host


def ensure_networks(host: Host, stack: str, nets: list[PrivateNet]) -> list[str]:
    """Define, start and autostart each network unless it exists; returns the names made.
    A network of that name that is not this stack's is refused (never taken over)."""
    existing = networks.network_xmls(host)
    for net in nets:
        if net.name in existing and network_stack(existing[net.name]) != (stack, net.entry):
            raise Conflict(f"network {net.name} exists on {host.uri} and is not stack {stack}'s network {net.entry}",
                           hint=f"remove it (`virsh net-undefine {net.name}`) if nobody needs it, or rename the "
                           "stack's network")
    made = []
    for net in nets:
        networks.ensure_network(host, net.name, isolated_network_xml(net.name, net.bridge, stack=stack,
                                                                      entry=net.entry))
        networks.set_autostart(host, net.name)
        if net.name not in existing:
            made.append(net.name)
    return made


def stack_networks(host: Host, stack: str) -> list[str]:
    """The networks on this host that say they are ``stack``'s."""
    return sorted(name for name, xml in networks.network_xmls(host).items()
                  if (owner := network_stack(xml)) is not None and owner[0] == stack)


def remove_networks(host: Host, stack: str) -> list[str]:
    """Remove the stack's networks (after its VMs are gone); returns their names."""
    names = stack_networks(host, stack)
    for name in names:
        networks.remove_network(host, name)
    return names
