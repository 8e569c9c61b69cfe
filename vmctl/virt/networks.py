"""libvirt virtual networks: define and start, destroy and undefine."""

from __future__ import annotations

from dataclasses import dataclass

import libvirt

from vmctl.errors import NotFound
from vmctl.libvirtxml.network import network_bridge
from vmctl.virt.errors import libvirt_errors, lookup
from vmctl.virt.host import Host


@dataclass(frozen=True)
class NetworkInfo:
    name: str
    active: bool
    persistent: bool
    bridge: str


def _lookup(host: Host, name: str) -> libvirt.virNetwork:
    return lookup(lambda: host.conn.networkLookupByName(name), libvirt.VIR_ERR_NO_NETWORK,
                  NotFound(f"no network named {name!r} on {host.uri}", hint="see `virsh net-list --all`"),
                  f"look up network {name}")


def _info(net: libvirt.virNetwork) -> NetworkInfo:
    return NetworkInfo(net.name(), bool(net.isActive()), bool(net.isPersistent()), network_bridge(net.XMLDesc(0)))


def ensure_network(host: Host, name: str, xml: str) -> NetworkInfo:
    """Define network ``name`` from ``xml`` unless it exists, and start it unless it runs."""
    with libvirt_errors(f"set up network {name}"):
        try:
            net = _lookup(host, name)
        except NotFound:
            try:
                net = host.conn.networkDefineXML(xml)
            except libvirt.libvirtError as exc:
                try:
                    net = _lookup(host, name)  # defined by another vmctl meanwhile
                except NotFound:
                    raise exc from None
        if not net.isActive():
            try:
                net.create()
            except libvirt.libvirtError:
                if not net.isActive():  # not started by someone else meanwhile: a real failure
                    raise
        return _info(net)


def network_info(host: Host, name: str) -> NetworkInfo:
    net = _lookup(host, name)
    with libvirt_errors(f"read network {name}"):
        return _info(net)


def list_networks(host: Host) -> list[NetworkInfo]:
    with libvirt_errors("list networks"):
        return sorted((_info(n) for n in host.conn.listAllNetworks(0)), key=lambda i: i.name)


def remove_network(host: Host, name: str) -> None:
    """Stop (destroy) and undefine a network; a missing one is not an error."""
    try:
        net = _lookup(host, name)
    except NotFound:
        return
    with libvirt_errors(f"remove network {name}"):
        if net.isActive():
            net.destroy()  # stops its dnsmasq too, which would otherwise outlive libvirtd
        if net.isPersistent():
            net.undefine()


def destroy_all(host: Host) -> list[str]:
    """Stop every active network of this host; returns their names."""
    stopped = []
    with libvirt_errors("list networks"):
        nets = host.conn.listAllNetworks(libvirt.VIR_CONNECT_LIST_NETWORKS_ACTIVE)
    for net in nets:
        with libvirt_errors(f"stop network {net.name()}"):
            net.destroy()
        stopped.append(net.name())
    return stopped


def network_xmls(host: Host) -> dict[str, str]:
    """Every network of this host (active or not) -> its XML definition."""
    with libvirt_errors("list networks"):
        return {net.name(): net.XMLDesc(0) for net in host.conn.listAllNetworks(0)}


def set_autostart(host: Host, name: str) -> None:
    """Start the network with libvirtd (a stack's VMs need it after a host reboot)."""
    net = _lookup(host, name)
    with libvirt_errors(f"set network {name} to autostart"):
        if not net.autostart():
            net.setAutostart(1)
