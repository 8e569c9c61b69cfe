"""In-place edits of an existing domain's XML: only what is asked changes, and XML
vmctl does not model (devices, other tools' metadata) survives."""

from __future__ import annotations

from lxml import etree

from vmctl.libvirtxml.domain import QEMU_NS, hostfwd_option, is_ssh_hostfwd
from vmctl.libvirtxml.domain import _fill_disk as fill_disk  # one way to put a file into a <disk>
from vmctl.libvirtxml.metadata import VMCTL_NS, edit_metadata, read_metadata
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.schema import validate
from vmctl.errors import InvalidInput
from vmctl.spec.domain import DiskSpec

_Q = f"{{{QEMU_NS}}}"
_V = f"{{{VMCTL_NS}}}"


def with_metadata(xml: str, **changes: object) -> str:
    """The same domain XML with vmctl's metadata fields in ``changes`` set."""
    root = parse_untrusted(xml, source="domain XML")
    vm = root.find(f"metadata/{_V}vm")
    if vm is None:
        raise InvalidInput(f"domain {root.findtext('name', '')!r} has no vmctl metadata",
                           hint="it was not created by vmctl")
    edit_metadata(vm, read_metadata(vm), **changes)
    validate(root, "domain")
    return to_string(root)


def with_ssh_port(xml: str, port: int) -> str:
    """The same domain XML with its SSH forward moved to 127.0.0.1:``port``
    (the QEMU argument and the metadata); everything else is kept as it is."""
    root = parse_untrusted(xml, source="domain XML")
    for arg in root.iterfind(f"{_Q}commandline/{_Q}arg"):
        value = arg.get("value", "")
        if value.startswith("user,") and any(is_ssh_hostfwd(p) for p in value.split(",")):
            arg.set("value", ",".join(hostfwd_option(port) if is_ssh_hostfwd(p) else p for p in value.split(",")))
    vm = root.find(f"metadata/{_V}vm")
    if vm is not None:
        edit_metadata(vm, read_metadata(vm), ssh_port=port)
    validate(root, "domain")
    return to_string(root)


def disk_with_source(xml: str, current: tuple[str, ...], path: str) -> str:
    """The ``<disk>`` whose source file is one of ``current`` (e.g. a VM's seed CD-ROM,
    wherever the template put it), with its source file replaced by ``path``: what
    libvirt's updateDevice takes to change media."""
    root = parse_untrusted(xml, source="domain XML")
    for disk in root.iterfind("devices/disk"):
        source_el = disk.find("source")
        if source_el is not None and source_el.get("file") in current:
            source = disk.find("source")
            if source is None:
                from lxml import etree

                source = etree.SubElement(disk, "source")
            source.attrib.clear()
            source.set("file", path)
            for stale in disk.findall("backingStore"):
                disk.remove(stale)
            return to_string(disk)
    raise InvalidInput(f"domain {root.findtext('name', '')!r} has no disk with {' or '.join(current)}",
                       hint="see `vmctl info NAME`")



def as_restored(xml: str, *, name: str, uuid: str, disk_sources: dict[str, str], ssh_port: int | None,
                macs: list[str], volumes: tuple[str, ...], boot_files: dict[str, str] | None = None) -> str:
    """A backed-up domain's XML as a new VM: its name and UUID, its disks' sources (by
    target), fresh MAC addresses, its SSH forward port, vmctl's ownership record; no
    snapshot notes (snapshots are not in a backup). Everything else is kept."""
    root = parse_untrusted(xml, source="backed-up domain XML")
    root.find("name").text = name
    uuid_el = root.find("uuid")
    if uuid_el is None:  # taken out by the cleaning (libvirtxml.restore)
        uuid_el = etree.Element("uuid")
        root.find("name").addnext(uuid_el)  # the schema wants <uuid> right after <name>
    uuid_el.text = uuid
    root.attrib.pop("id", None)
    for tag, path in (boot_files or {}).items():  # "kernel", "initrd": the restored VM's own copies
        element = root.find(f"os/{tag}")
        if element is not None:
            element.text = path
    for disk in root.iterfind("devices/disk"):
        target = disk.find("target")
        dev = target.get("dev") if target is not None else None
        if dev in disk_sources:  # the same filling as a template's disk: no old storage or secrets stay
            cdrom = disk.get("device") == "cdrom"
            fill_disk(disk, DiskSpec(disk_sources[dev], target=dev, format="raw" if cdrom else "qcow2",
                                     device="cdrom" if cdrom else "disk"))
    fresh = iter(macs)
    for mac in root.iterfind("devices/interface/mac"):
        mac.set("address", next(fresh))
    for arg in root.iterfind(f"{_Q}commandline/{_Q}arg"):
        value = arg.get("value", "")
        if value.startswith("virtio-net-pci,") and "mac=" in value:
            arg.set("value", ",".join(f"mac={next(fresh)}" if p.startswith("mac=") else p for p in value.split(",")))
    vm = root.find(f"metadata/{_V}vm")
    if vm is not None:
        edit_metadata(vm, read_metadata(vm), volumes=volumes, snapshots=())
    validate(root, "domain")
    restored = to_string(root)
    return with_ssh_port(restored, ssh_port) if ssh_port else restored


def user_netdev_forwards(xml: str) -> list[str]:
    """The ``hostfwd=`` options of vmctl's user-mode NIC, in order (the SSH forward first)."""
    root = parse_untrusted(xml, source="domain XML")
    for arg in root.iterfind(f"{_Q}commandline/{_Q}arg"):
        value = arg.get("value", "")
        if value.startswith("user,id=vmctlnet"):
            return [p for p in value.split(",") if p.startswith("hostfwd=")]
    return []


def with_forwards(xml: str, options: list[str]) -> str:
    """The same domain XML with vmctl's user-mode NIC forwarding exactly ``options``
    (``hostfwd=...`` each, the SSH forward among them); everything else kept."""
    root = parse_untrusted(xml, source="domain XML")
    for arg in root.iterfind(f"{_Q}commandline/{_Q}arg"):
        value = arg.get("value", "")
        if value.startswith("user,id=vmctlnet"):
            kept = [p for p in value.split(",") if not p.startswith("hostfwd=")]
            arg.set("value", ",".join([*kept, *options]))
            validate(root, "domain")
            return to_string(root)
    raise InvalidInput(f"domain {root.findtext('name', '')!r} has no vmctl user-mode NIC to forward ports of",
                       hint="a VM on a libvirt network is reached at its own address: no forward is needed")
