"""Domain snapshot XML: what vmctl asks libvirt for, and what it reads back."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.schema import validate


def snapshot_xml(name: str, *, description: str = "", memory: bool, disks: dict[str, str],
                 external: dict[str, str] | None = None) -> str:
    """``disks``: target -> "internal", "external" or "no"; ``external``: target -> the
    overlay's path for external disks. ``memory``: save the guest's RAM (internal)."""
    root = etree.Element("domainsnapshot")
    etree.SubElement(root, "name").text = name
    if description:
        etree.SubElement(root, "description").text = description
    etree.SubElement(root, "memory", snapshot="internal" if memory else "no")
    disks_el = etree.SubElement(root, "disks")
    for target, kind in disks.items():
        disk = etree.SubElement(disks_el, "disk", name=target, snapshot=kind)
        if kind == "external":
            etree.SubElement(disk, "driver", type="qcow2")
            etree.SubElement(disk, "source", file=(external or {})[target])
    validate(root, "domainsnapshot")
    return to_string(root)


@dataclass(frozen=True)
class SnapshotFacts:
    name: str
    parent: str | None
    created: int          # seconds since the epoch
    state: str            # the domain's state then: running, paused, shutoff, disk-snapshot
    memory: str           # "internal", "external" or "no"
    disks: dict[str, str]  # target -> internal / external / no
    external_files: dict[str, str]  # target -> overlay path, external disks only
    description: str
    domain_xml: str       # the domain's definition at the time (libvirt restores it on revert)


def parse_snapshot(xml: str) -> SnapshotFacts:
    root = parse_untrusted(xml, source="snapshot XML")
    memory = root.find("memory")
    disks, files = {}, {}
    for disk in root.iterfind("disks/disk"):
        target = disk.get("name", "")
        disks[target] = disk.get("snapshot", "internal")
        source = disk.find("source")
        if source is not None and source.get("file"):
            files[target] = source.get("file", "")
    domain = root.find("domain")
    return SnapshotFacts(
        name=root.findtext("name", ""),
        parent=root.findtext("parent/name") or None,
        created=int(root.findtext("creationTime", "0") or 0),
        state=root.findtext("state", ""),
        memory=memory.get("snapshot", "no") if memory is not None else "no",
        disks=disks, external_files=files,
        description=root.findtext("description", "") or "",
        domain_xml=to_string(domain) if domain is not None else "",
    )
