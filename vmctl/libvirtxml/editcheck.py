"""Checking a domain definition a person edited (`vmctl edit`) before it is defined.

The edit may change anything libvirt accepts, except what would break vmctl's hold
on the VM or hand the guest part of the host: the name and UUID, vmctl's metadata
(ownership, pinned keys) and its QEMU arguments stay as they are; a disk, CD-ROM or
kernel file the VM did not have, a shared host directory, a host device or a turned-off
confinement is refused unless the caller allows host resources explicitly.
"""

from __future__ import annotations

from lxml import etree

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.domain import QEMU_NS
from vmctl.libvirtxml.metadata import VMCTL_NS
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.schema import validate

_Q = f"{{{QEMU_NS}}}"
_V = f"{{{VMCTL_NS}}}"
HOST_PARTS = ("devices/filesystem", "devices/hostdev", "devices/smartcard", "devices/redirdev")


def _canonical(el: etree._Element | None) -> str:
    if el is None:
        return ""
    copy = etree.fromstring(etree.tostring(el))
    for node in copy.iter():
        node.tail = None
        if node.text is not None and not node.text.strip():
            node.text = None
    return etree.tostring(copy, method="c14n").decode()


def _host_files(root: etree._Element) -> set[str]:
    files = {s.get(a, "") for s in root.iterfind("devices/disk/source") for a in ("file", "dev", "dir")}
    files |= {root.findtext(f"os/{tag}", "") or "" for tag in ("kernel", "initrd", "loader", "nvram")}
    return {f for f in files if f}


def unchanged(old_xml: str, new_xml: str) -> bool:
    """Whether an edit changed nothing but formatting."""
    return _canonical(parse_untrusted(old_xml)) == _canonical(parse_untrusted(new_xml, source="the edited XML"))


def check_edit(old_xml: str, new_xml: str, *, allow_host: bool = False) -> str:
    """The edited definition, checked (see the module doc); raises InvalidInput naming
    each refusal."""
    old = parse_untrusted(old_xml, source="the current definition")
    new = parse_untrusted(new_xml, source="the edited XML")
    if new.tag != "domain":
        raise InvalidInput(f"the edited XML is a <{new.tag}>, not a <domain>", hint="edit the <domain> element")
    refused = []
    for tag in ("name", "uuid"):
        if (new.findtext(tag) or "").strip() != (old.findtext(tag) or "").strip():
            refused.append(f"<{tag}> changed: renaming or re-identifying a VM is not an edit "
                           f"(`vmctl clone` makes a copy with a new identity)")
    if _canonical(new.find(f"metadata/{_V}vm")) != _canonical(old.find(f"metadata/{_V}vm")):
        refused.append("vmctl's <metadata> changed: it records what the VM owns and its pinned keys "
                       "(use vmctl's verbs: set, disk, port, ...)")
    if _canonical(new.find(f"{_Q}commandline")) != _canonical(old.find(f"{_Q}commandline")):
        refused.append("<qemu:commandline> changed: raw QEMU arguments can do anything on the host "
                       "(forwards: `vmctl port`)")
    if not allow_host:
        for path in sorted(_host_files(new) - _host_files(old)):
            refused.append(f"a host file the VM did not use: {path} (extra disks: `vmctl disk add`)")
        for part in HOST_PARTS:
            if len(new.findall(part)) > len(old.findall(part)):
                refused.append(f"a new <{part.split('/')[-1]}>: it hands the guest part of the host")
        for label in new.findall("seclabel"):
            if label.get("type") in ("none", "static") and _canonical(label) not in map(_canonical,
                                                                                       old.findall("seclabel")):
                refused.append(f"<seclabel type='{label.get('type')}'>: turns off or fixes QEMU's confinement")
    if refused:
        hint = "undo those parts" + ("" if allow_host else "; host files and devices on purpose: --allow-host")
        raise InvalidInput("the edit is refused: " + "; ".join(refused), hint=hint)
    validate(new, "domain")
    return to_string(new)
