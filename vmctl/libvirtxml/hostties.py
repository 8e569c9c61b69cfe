"""The parts of a template tied to one host (CPU and NUMA pinning, graphics listen
addresses, SPICE TLS, chardevs that connect to a server at start), read for the host
pre-flight, and fitting them to a host on request (--drop-unusable)."""

from __future__ import annotations

from lxml import etree

from vmctl.spec.template import HostTie, Unusable, is_anywhere_or_loopback

CHARDEVS = ("serial", "console", "channel", "parallel")
LOOPBACK = "127.0.0.1"


def host_ties(root: etree._Element) -> list[HostTie]:
    tree = root.getroottree()
    ties: list[HostTie] = []
    vcpu = root.find("vcpu")
    if vcpu is not None and vcpu.get("cpuset"):
        ties.append(HostTie("cpus", f"<vcpu cpuset='{vcpu.get('cpuset')}'>", vcpu.get("cpuset", ""),
                            _path(tree, vcpu), "unpin-attr"))
    for tag, key in (("vcpupin", "vcpu"), ("emulatorpin", ""), ("iothreadpin", "iothread")):
        for pin in root.findall(f"cputune/{tag}"):
            if pin.get("cpuset"):
                which = f" {key}='{pin.get(key, '')}'" if key else ""
                ties.append(HostTie("cpus", f"<{tag}{which} cpuset='{pin.get('cpuset')}'>", pin.get("cpuset", ""),
                                    _path(tree, pin), "unpin"))
    for memory in root.findall("numatune/memory"):
        if memory.get("nodeset"):
            ties.append(HostTie("nodes", f"<numatune><memory nodeset='{memory.get('nodeset')}'>",
                                memory.get("nodeset", ""), _path(tree, memory), "unpin"))
    for memnode in root.findall("numatune/memnode"):
        if memnode.get("nodeset"):
            ties.append(HostTie("nodes", f"<numatune><memnode cellid='{memnode.get('cellid', '')}' "
                                f"nodeset='{memnode.get('nodeset')}'>", memnode.get("nodeset", ""),
                                _path(tree, memnode), "unpin"))
    for graphics in root.findall("devices/graphics"):
        kind = graphics.get("type", "")
        if kind not in ("vnc", "spice"):
            continue
        for address in listen_addresses(graphics):
            if is_anywhere_or_loopback(address):
                continue  # every host has it
            ties.append(HostTie("listen", f"<graphics type='{kind}'> listen {address}", address,
                                _path(tree, graphics), "loopback"))
        secure = [f"<channel name='{c.get('name', '')}' mode='secure'>"
                  for c in graphics.findall("channel[@mode='secure']")]
        if graphics.get("defaultMode") == "secure":
            secure.insert(0, "defaultMode='secure'")
        if graphics.get("tlsPort") not in (None, "", "-1", "0"):
            secure.insert(0, f"tlsPort='{graphics.get('tlsPort')}'")
        if kind == "spice" and secure:
            ties.append(HostTie("spice-tls", f"<graphics type='spice'> TLS ({', '.join(secure)})", "",
                                _path(tree, graphics), "no-tls"))
    for tag in CHARDEVS:
        for dev in root.findall(f"devices/{tag}"):
            target = _connect_target(dev)
            if target:
                port = dev.find("target")
                where = f" port {port.get('port')}" if tag == "serial" and port is not None and port.get("port") \
                    else (f" {port.get('name')}" if port is not None and port.get("name") else "")
                ties.append(HostTie("connect", f"<{tag} type='{dev.get('type')}'>{where} (connect to "
                                    f"{target.split(':', 1)[1]})", target, _path(tree, dev), "drop"))
    return ties


def listen_addresses(graphics: etree._Element) -> list[str]:
    """The addresses a <graphics> listens on (the listen= attribute mirrors the first
    <listen type='address'>)."""
    found = [el.get("address", "") for el in graphics.findall("listen[@type='address']") if el.get("address")]
    if graphics.get("listen") and graphics.get("listen") not in found:
        found.insert(0, graphics.get("listen", ""))
    return found


def _connect_target(dev: etree._Element) -> str:
    """'tcp:HOST:PORT', 'unix:PATH' for a chardev that connects to a server when QEMU
    starts (and fails without it), 'unix-file:PATH' for a UNIX one that reconnects
    (libvirt still needs the socket file at start: it labels it); '' otherwise (a
    server itself, udp, or a TCP one that reconnects)."""
    kind = dev.get("type")
    if kind not in ("tcp", "unix"):
        return ""  # udp needs no server: datagrams go out whether anyone listens or not
    source = dev.find("source")
    if source is None or source.get("mode", "connect") != "connect":
        return ""
    reconnect = source.find("reconnect")
    reconnects = reconnect is not None and reconnect.get("enabled") == "yes"
    if kind == "tcp" and source.get("service") and not reconnects:  # reconnecting: QEMU starts without it
        host = source.get("host") or "localhost"
        return f"tcp:{f'[{host}]' if ':' in host else host}:{source.get('service')}"
    if kind == "unix" and source.get("path"):
        return f"{'unix-file' if reconnects else 'unix'}:{source.get('path')}"
    return ""


def spice_tls_probe_xml() -> str:
    """A domain that only the daemon's SPICE TLS set-up can refuse (an explicit TLS port):
    libvirt's domxml-to-native checks spice_tls without starting anything."""
    root = etree.Element("domain", type="qemu")
    etree.SubElement(root, "name").text = "vmctl-spice-tls-probe"
    etree.SubElement(root, "memory", unit="MiB").text = "64"
    etree.SubElement(root, "vcpu").text = "1"
    etree.SubElement(etree.SubElement(root, "os"), "type").text = "hvm"
    graphics = etree.SubElement(etree.SubElement(root, "devices"), "graphics", type="spice", autoport="no",
                                port="5900", tlsPort="5901")
    etree.SubElement(graphics, "listen", type="address", address=LOOPBACK)
    return etree.tostring(root, encoding="unicode")


def fit(el: etree._Element, item: Unusable) -> bool:
    """Fit ``el`` as ``item.fit`` says; False when the element is to be removed."""
    if item.fit == "unpin-attr":
        el.attrib.pop("cpuset", None)
    elif item.fit == "loopback":
        if el.get("listen"):
            el.set("listen", LOOPBACK)
        for listen in el.findall("listen[@type='address']"):
            if listen.get("address"):
                listen.set("address", LOOPBACK)
    elif item.fit == "no-tls":
        el.attrib.pop("tlsPort", None)
        if el.get("defaultMode") == "secure":
            el.attrib.pop("defaultMode")
        for channel in el.findall("channel[@mode='secure']"):
            el.remove(channel)
    else:
        return False
    return True


def tidy(root: etree._Element) -> None:
    """<cputune>/<numatune> left empty by fitting go too."""
    for tag in ("cputune", "numatune"):
        for el in root.findall(tag):
            if len(el) == 0 and not el.attrib:
                root.remove(el)


def _path(tree: etree._ElementTree, el: etree._Element) -> str:
    return tree.getpath(el).split("/", 2)[2]
