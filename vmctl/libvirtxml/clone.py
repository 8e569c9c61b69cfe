"""A domain's XML as a template for new VMs, with virt-clone semantics: what makes
the source VM itself (uuid, id, MACs, seclabel labels, graphics ports, runtime
paths and aliases, NVRAM path, generation id, vmctl's own user-mode NIC and
metadata) is dropped; cdroms and floppies are emptied. What remains is structure,
which vmctl then fills for each VM. Unknown XML survives."""

from __future__ import annotations

from lxml import etree

from vmctl.libvirtxml.domain import QEMU_NS
from vmctl.libvirtxml.metadata import VMCTL_NS
from vmctl.libvirtxml.safe import parse_untrusted, to_string

_Q = f"{{{QEMU_NS}}}"
_V = f"{{{VMCTL_NS}}}"
CHARDEVS = ("serial", "console", "parallel", "channel")
RUNTIME_CHANNEL_DIR = "/var/lib/libvirt/qemu/channel/"


def clean_template(xml: bytes | str, *, source: str = "template") -> bytes:
    """The template with the source VM's identity and runtime state taken out."""
    root = parse_untrusted(xml, source=source)
    clean_root(root)
    return to_string(root).encode()


def with_description(xml: bytes, description: str) -> bytes:
    """The template with vmctl's template description (what `template list` shows) set."""
    root = parse_untrusted(xml, source="template")
    metadata = root.find("metadata")
    if metadata is None:
        metadata = etree.Element("metadata")
        name = root.find("name")
        (name.addnext(metadata) if name is not None else root.insert(0, metadata))
    for old in metadata.findall(f"{_V}template"):
        metadata.remove(old)
    etree.SubElement(metadata, f"{_V}template", nsmap={"vmctl": VMCTL_NS}, description=description)
    return to_string(root).encode()


def clean_root(root: etree._Element) -> None:
    root.attrib.pop("id", None)
    for tag in ("uuid", "genid"):
        for el in root.findall(tag):
            root.remove(el)
    _remove_all(root, ".//alias")
    for meta in root.findall(f"metadata/{_V}vm"):
        meta.getparent().remove(meta)
    for entry in root.findall("sysinfo/system/entry[@name='uuid']"):
        entry.getparent().remove(entry)  # must match the new <uuid>, so libvirt fills it
    for seclabel in root.findall("seclabel"):
        # A dynamic label is the source VM's (and names its host's security driver, which this
        # host may not have); libvirt gives the new VM its own. Static labels are config: kept.
        if seclabel.get("type", "dynamic") == "dynamic":
            root.remove(seclabel)
    _clean_os(root)
    devices = root.find("devices")
    if devices is not None:
        for emulator in devices.findall("emulator"):  # another host's path; libvirt picks this host's
            devices.remove(emulator)
        _clean_disks(devices)
        _clean_interfaces(devices)
        _clean_graphics(devices)
        _clean_chardevs(devices)
    _drop_vmctl_nics(root)


def _remove_all(root: etree._Element, path: str) -> None:
    for el in root.findall(path):
        el.getparent().remove(el)


def _clean_os(root: etree._Element) -> None:
    for nvram in root.findall("os/nvram"):
        nvram.text = None  # the source VM's own variables file; libvirt makes this VM's
        for attr in ("type",):
            nvram.attrib.pop(attr, None)
        for child in list(nvram):
            nvram.remove(child)


def _clean_disks(devices: etree._Element) -> None:
    for disk in devices.findall("disk"):
        _remove_all(disk, "backingStore")
        _remove_all(disk, "mirror")
        source = disk.find("source")
        if source is not None:
            source.attrib.pop("index", None)
        if disk.get("device") in ("cdrom", "floppy"):
            if source is not None:
                disk.remove(source)
            disk.set("type", "file")
            for boot in disk.findall("boot"):  # emptied install media: boot from the disk
                disk.remove(boot)


def _clean_interfaces(devices: etree._Element) -> None:
    for iface in devices.findall("interface"):
        for tag in ("mac", "target", "guest"):
            _remove_all(iface, tag)


def _clean_graphics(devices: etree._Element) -> None:
    for graphics in devices.findall("graphics"):
        if graphics.get("type") in ("vnc", "spice") and ("port" in graphics.attrib or "tlsPort" in graphics.attrib
                                                         or graphics.get("autoport") == "no"):
            for attr in ("port", "tlsPort", "websocket"):
                graphics.attrib.pop(attr, None)
            graphics.set("autoport", "yes")


def _clean_chardevs(devices: etree._Element) -> None:
    for tag in CHARDEVS:
        for dev in devices.findall(tag):
            dev.attrib.pop("tty", None)
            source = dev.find("source")
            if source is None:
                continue
            if dev.get("type") == "pty":
                dev.remove(source)
            elif dev.get("type") == "unix" and source.get("path", "").startswith(RUNTIME_CHANNEL_DIR):
                source.attrib.pop("path", None)  # libvirt makes one for each VM


def _drop_vmctl_nics(root: etree._Element) -> None:
    """vmctl's own user-mode NIC arguments (a dumpxml of a vmctl VM); the new VM gets its own."""
    for cmdline in root.findall(f"{_Q}commandline"):
        args = cmdline.findall(f"{_Q}arg")
        drop: set[int] = set()
        for i, arg in enumerate(args):
            value = arg.get("value", "")
            if "vmctlnet" in value and i > 0 and args[i - 1].get("value") in ("-netdev", "-device"):
                drop.update({i - 1, i})
        for i in sorted(drop, reverse=True):
            cmdline.remove(args[i])
        if len(cmdline) == 0:
            root.remove(cmdline)
