"""libvirt network XML."""

from __future__ import annotations

import ipaddress
import re

from lxml import etree

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.schema import validate
from vmctl.spec.names import check_name

_BRIDGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")  # IFNAMSIZ - 1
DNSMASQ_NS = "http://libvirt.org/schemas/network/dnsmasq/1.0"


def nat_network_xml(name: str, bridge: str, address: str, netmask: str, dhcp_start: str, dhcp_end: str,
                    *, dns: bool = False, dhcp_ping: bool = False) -> str:
    """A NAT network with a DHCP range. ``dns=False`` keeps dnsmasq from answering
    (or forwarding) DNS, so it serves DHCP only. ``dhcp_ping=False`` adds dnsmasq's
    ``no-ping``: by default dnsmasq pings an address before offering it and ignores
    the client meanwhile, which delayed a guest's first lease by ~3 s."""
    check_name(name, "network")
    if not _BRIDGE_RE.match(bridge):
        raise InvalidInput(f"invalid bridge name {bridge!r}", hint="1-15 letters, digits, '.', '_' or '-'")
    try:
        net = ipaddress.IPv4Network(f"{address}/{netmask}", strict=False)
        gateway, first, last = (ipaddress.IPv4Address(a) for a in (address, dhcp_start, dhcp_end))
    except ValueError as exc:
        raise InvalidInput(f"invalid network addresses: {exc}", hint="use dotted IPv4 addresses") from None
    if not all(a in net for a in (first, last)) or first > last or first <= gateway <= last:
        raise InvalidInput(f"DHCP range {first}-{last} must lie in {net} and exclude {gateway}")
    root = etree.Element("network", nsmap=None if dhcp_ping else {"dnsmasq": DNSMASQ_NS})
    etree.SubElement(root, "name").text = name
    etree.SubElement(root, "forward", mode="nat")
    etree.SubElement(root, "bridge", name=bridge, stp="off", delay="0")  # one bridge: no loops
    if not dns:
        etree.SubElement(root, "dns", enable="no")
    ip = etree.SubElement(root, "ip", address=str(gateway), netmask=str(net.netmask))
    dhcp = etree.SubElement(ip, "dhcp")
    etree.SubElement(dhcp, "range", start=str(first), end=str(last))
    if not dhcp_ping:
        options = etree.SubElement(root, f"{{{DNSMASQ_NS}}}options")
        etree.SubElement(options, f"{{{DNSMASQ_NS}}}option", value="no-ping")
    validate(root, "network")
    return to_string(root)


def network_bridge(xml: str) -> str:
    """The bridge name of a network definition ('' when it has none)."""
    bridge = parse_untrusted(xml, source="network XML").find("bridge")
    return bridge.get("name", "") if bridge is not None else ""


NETWORK_NS = "https://vmctl.dev/xmlns/network/1"


def isolated_network_xml(name: str, bridge: str, *, stack: str, entry: str) -> str:
    """An isolated network: a bridge with no address of the host on it, so libvirt runs no
    dnsmasq and routes nothing (no ``<forward>``, no ``<ip>``). ``stack``/``entry`` are kept
    in its metadata: ``vmctl down`` removes only networks that say they are the stack's."""
    check_name(name, "network")
    if not _BRIDGE_RE.match(bridge):
        raise InvalidInput(f"invalid bridge name {bridge!r}", hint="1-15 letters, digits, '.', '_' or '-'")
    root = etree.Element("network")
    etree.SubElement(root, "name").text = name
    metadata = etree.SubElement(root, "metadata")
    etree.SubElement(metadata, f"{{{NETWORK_NS}}}stack", nsmap={"vmctl": NETWORK_NS}, name=stack, network=entry)
    etree.SubElement(root, "bridge", name=bridge, stp="off", delay="0")
    validate(root, "network")
    return to_string(root)


def network_stack(xml: str) -> tuple[str, str] | None:
    """``(stack, network entry)`` of a network vmctl made for a stack, else None."""
    found = parse_untrusted(xml, source="network XML").find(f"metadata/{{{NETWORK_NS}}}stack")
    if found is None:
        return None
    return found.get("name", ""), found.get("network", "")
