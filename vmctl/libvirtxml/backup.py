"""Backup job XML (push mode): which disks go where."""

from __future__ import annotations

from lxml import etree

from vmctl.libvirtxml.safe import to_string
from vmctl.libvirtxml.schema import validate


def push_backup_xml(targets: dict[str, str | None]) -> str:
    """``targets``: disk target -> file to write (qcow2), or None to leave the disk out."""
    root = etree.Element("domainbackup", mode="push")
    disks = etree.SubElement(root, "disks")
    for target, path in targets.items():
        if path is None:
            etree.SubElement(disks, "disk", name=target, backup="no")
            continue
        disk = etree.SubElement(disks, "disk", name=target, backup="yes", type="file")
        etree.SubElement(disk, "target", file=path)
        etree.SubElement(disk, "driver", type="qcow2")
    validate(root, "domainbackup")
    return to_string(root)
