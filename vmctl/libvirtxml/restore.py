"""A backed-up domain's XML is untrusted input: before it becomes a new VM it is
cleaned like a template for ``vmctl template import`` (clone.clean_root: the old
VM's identity, emulator path, NVRAM file, runtime paths) and read like one
(templatefacts: host devices, pass-through, a non-pty serial port 0 are refused).

A backup may differ from a template in exactly two ways, both checked strictly:
it has several disks, each of which must be in the backup (its source is replaced
by the restored volume), and it keeps vmctl's own metadata and vmctl's user-mode
NIC arguments, which must have exactly the shape vmctl writes. Anything else that
would hand the new VM a piece of this host is refused, never dropped quietly: a
disk that is not in the backup, a ``<filesystem>``, any other ``<qemu:...>``
element, a kernel/initrd/dtb the backup does not hold, a host path anywhere in
the devices or ``<os>`` (serial/log files, sockets, ACPI tables, scripts, ...),
firmware outside the system firmware directories, a static or disabled
security label."""

from __future__ import annotations

import copy
import re

from lxml import etree

from vmctl.libvirtxml.clone import clean_root
from vmctl.libvirtxml.domain import QEMU_NS
from vmctl.libvirtxml.metadata import VMCTL_NS
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.templatefacts import template_facts
from vmctl.spec.template import TemplateFacts, Unusable

_Q = f"{{{QEMU_NS}}}"
_V = f"{{{VMCTL_NS}}}"
# vmctl's user-mode NIC, exactly as libvirtxml.domain renders it (a guestfwd=cmd:... or smb=
# option in a forged backup would run a program or share a host directory).
_NETDEV = re.compile(r"user,id=vmctlnet\d,(restrict=on,)?hostfwd=tcp:127\.0\.0\.1:\d{1,5}-:22"
                     r"(,hostfwd=(tcp|udp):127\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}-:\d{1,5})*")  # + loopback forwards
_DEVICE = re.compile(r"virtio-net-pci,netdev=vmctlnet\d,mac=[0-9a-f]{2}(:[0-9a-f]{2}){5},"
                     r"bus=pcie?\.\d{1,3},addr=0x[0-9a-f]{1,2}")
PATH_ATTRS = ("file", "path", "dir", "dev", "evdev", "socket", "template", "rendernode")
ENTROPY = ("/dev/urandom", "/dev/random", "/dev/hwrng")   # an <rng> backend may read these
FIRMWARE_DIRS = ("/usr/share/", "/usr/lib/", "/usr/local/share/")


def restorable_xml(xml: bytes | str, *, disks: dict[str, str], boot_files: frozenset[str],
                   source: str) -> tuple[bytes, tuple[Unusable, ...], TemplateFacts]:
    """``xml`` cleaned for a new VM, what in it must be refused (empty: none), and its
    facts (for the host pre-flight). ``disks``: target -> device of the disks the
    backup holds; ``boot_files``: the roles ("kernel", "initrd") it holds."""
    root = parse_untrusted(xml, source=source)
    if root.tag != "domain" or any(root.find(tag) is None for tag in ("name", "os", "devices")):
        return b"", (Unusable(f"<{root.tag}>", "not a libvirt domain definition with <name>, <os> and <devices>",
                              ""),), TemplateFacts()
    tree = root.getroottree()
    refused = _disk_refusals(root, tree, disks) + _qemu_refusals(root, tree)
    keep = [copy.deepcopy(el) for el in root.findall(f"metadata/{_V}vm") + root.findall(f"{_Q}commandline")]
    clean_root(root)  # the same cleaning as `template import`
    for el in root.findall(f"{_Q}commandline"):
        root.remove(el)
    refused += _host_path_refusals(root, tree, disks, boot_files)
    for fs in root.findall("devices/filesystem"):
        refused.append(Unusable("<filesystem>", "shares a host directory with the guest", _path(tree, fs)))
    for label in root.findall("seclabel"):
        if label.get("type") in ("static", "none"):
            refused.append(Unusable(f"<seclabel type='{label.get('type')}'>",
                                    "sets or turns off the host's confinement of QEMU", _path(tree, label)))
    for el in keep:  # vmctl's own parts, checked above
        if el.tag == f"{_V}vm":
            metadata = root.find("metadata")
            if metadata is None:
                metadata = etree.SubElement(root, "metadata")
            metadata.append(el)
        else:
            root.append(el)
    facts = template_facts(root, source=source)
    for item in facts.unusable:  # the refusals of `template import`; disks are judged above (a backup has several)
        el = root.find(item.path)
        if el is None or el.tag != "disk":
            refused.append(item)
    return to_string(root).encode(), tuple(refused), facts


def _disk_refusals(root: etree._Element, tree: etree._ElementTree, disks: dict[str, str]) -> list[Unusable]:
    refused: list[Unusable] = []
    seen: set[str] = set()
    for disk in root.findall("devices/disk"):
        target_el = disk.find("target")
        target = target_el.get("dev", "") if target_el is not None else ""
        device = disk.get("device", "disk")
        where = _path(tree, disk)
        if target in seen:
            refused.append(Unusable(f"<disk> {target}", "a second disk with the same target", where))
        elif target in disks and disks[target] != ("cdrom" if device == "cdrom" else "disk"):
            refused.append(Unusable(f"<disk device='{device}'> {target}",
                                    f"the backup holds a {disks[target]} for this target", where))
        elif target not in disks and (device not in ("cdrom", "floppy") or disk.find("source") is not None):
            refused.append(Unusable(f"<disk device='{device}'> {target or '(no target)'}",
                                    "not one of the backed-up disks: it would give the new VM a disk of this host",
                                    where))
        seen.add(target)
    present = {el.get("dev") for el in root.findall("devices/disk/target")}
    for target in sorted(set(disks) - present):
        refused.append(Unusable(f"disk-{target} of the backup", "the definition has no disk with this target", ""))
    return refused


def _qemu_refusals(root: etree._Element, tree: etree._ElementTree) -> list[Unusable]:
    refused: list[Unusable] = []
    for el in root.iter(f"{_Q}*"):
        if el.tag == f"{_Q}commandline":
            continue
        if el.tag == f"{_Q}arg" and el.getparent().tag == f"{_Q}commandline":
            continue  # checked as pairs below
        if el.getparent().tag.startswith(_Q) and el.getparent().tag != f"{_Q}commandline":
            continue  # its parent is named already
        refused.append(Unusable(f"<qemu:{etree.QName(el).localname}>",
                                "passes settings to QEMU behind libvirt's back", _path(tree, el)))
    for cmdline in root.findall(f"{_Q}commandline"):
        values = [arg.get("value", "") for arg in cmdline.findall(f"{_Q}arg")]
        pairs = list(zip(values[0::2], values[1::2]))
        if len(values) % 2 or not all((flag == "-netdev" and _NETDEV.fullmatch(value))
                                      or (flag == "-device" and _DEVICE.fullmatch(value)) for flag, value in pairs):
            odd = [v for v in values if v not in ("-netdev", "-device")
                   and not _NETDEV.fullmatch(v) and not _DEVICE.fullmatch(v)]
            refused.append(Unusable("<qemu:commandline>", "arguments that are not vmctl's own user-mode NIC"
                                    + (f" ({', '.join(odd[:3])})" if odd else ""), _path(tree, cmdline)))
    return refused


def _host_path_refusals(root: etree._Element, tree: etree._ElementTree, disks: dict[str, str],
                        boot_files: frozenset[str]) -> list[Unusable]:
    """Host paths outside the disks' sources (which the restore replaces)."""
    replaced: set[etree._Element] = set()
    first: set[str] = set()
    for disk in root.findall("devices/disk"):
        target = disk.find("target")
        if target is not None and target.get("dev") in set(disks) - first:
            first.add(target.get("dev", ""))
            replaced.update(el for child in disk if child.tag in ("source", "backingStore", "mirror")
                            for el in child.iter())
    refused: list[Unusable] = []
    for section in [root.find("os"), root.find("devices"), root.find("memoryBacking")]:
        if section is None:
            continue
        for el in section.iter():
            if el in replaced or not isinstance(el.tag, str):
                continue
            name = etree.QName(el).localname
            for attr in PATH_ATTRS:
                value = el.get(attr, "")
                if value.startswith("/") and not _allowed(el, name, value, boot_files):
                    refused.append(Unusable(f"<{name} {attr}='{value}'>", "names a file of this host",
                                            _path(tree, el)))
            text = (el.text or "").strip()
            if text.startswith("/") and name != "cmdline" and not _allowed(el, name, text, boot_files):
                refused.append(Unusable(f"<{name}>{text}</{name}>", "names a file of this host", _path(tree, el)))
    return refused


def _allowed(el: etree._Element, name: str, value: str, boot_files: frozenset[str]) -> bool:
    parent = el.getparent()
    in_os = parent is not None and parent.tag == "os"
    if name in ("kernel", "initrd") and in_os:
        return name in boot_files  # replaced by the restored VM's own copy
    if name == "loader" and in_os or name == "nvram" and in_os:
        # nvram: only its template stays after cleaning
        return value.startswith(FIRMWARE_DIRS) and ".." not in value.split("/")
    if name == "backend" and parent is not None and parent.tag == "rng":
        return value in ENTROPY
    return False


def _path(tree: etree._ElementTree, el: etree._Element) -> str:
    return tree.getpath(el).split("/", 2)[2]
