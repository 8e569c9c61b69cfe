"""Storage pool and volume XML."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from vmctl.libvirtxml.safe import parse_untrusted, to_string


def dir_pool_xml(name: str, path: str) -> str:
    pool = etree.Element("pool", type="dir")
    etree.SubElement(pool, "name").text = name
    target = etree.SubElement(pool, "target")
    etree.SubElement(target, "path").text = path
    perms = etree.SubElement(target, "permissions")
    etree.SubElement(perms, "mode").text = "0711"
    return to_string(pool)


def volume_xml(
    name: str,
    capacity: int,
    fmt: str,
    *,
    backing_path: str | None = None,
    backing_format: str | None = None,
    mode: str = "0600",
) -> str:
    """A volume; with ``backing_path`` a qcow2 overlay that names its backing format."""
    vol = etree.Element("volume")
    etree.SubElement(vol, "name").text = name
    etree.SubElement(vol, "capacity", unit="bytes").text = str(capacity)
    etree.SubElement(vol, "allocation", unit="bytes").text = "0"
    target = etree.SubElement(vol, "target")
    etree.SubElement(target, "format", type=fmt)
    perms = etree.SubElement(target, "permissions")
    etree.SubElement(perms, "mode").text = mode
    if backing_path:
        backing = etree.SubElement(vol, "backingStore")
        etree.SubElement(backing, "path").text = backing_path
        etree.SubElement(backing, "format", type=backing_format or "qcow2")
    return to_string(vol)


@dataclass(frozen=True)
class VolumeFacts:
    name: str
    path: str
    format: str
    capacity: int
    allocation: int
    backing_path: str | None
    backing_format: str = ""
    ctime: str = ""  # change time (ns): the same file seen through two hosts has the same one
    mtime: float | None = None  # last write of its bytes (libvirt reports no birth time: btime 0)


def parse_volume(xml: str) -> VolumeFacts:
    root = parse_untrusted(xml, source="volume XML")
    fmt = root.find("target/format")
    return VolumeFacts(
        name=root.findtext("name", ""),
        path=root.findtext("target/path", ""),
        format=fmt.get("type", "") if fmt is not None else "",
        capacity=int(root.findtext("capacity", "0")),
        allocation=int(root.findtext("allocation", "0")),
        backing_path=root.findtext("backingStore/path") or None,
        backing_format=(root.find("backingStore/format").get("type", "")
                        if root.find("backingStore/format") is not None else ""),
        ctime=root.findtext("target/timestamps/ctime", ""),
        mtime=float(root.findtext("target/timestamps/mtime") or 0) or None,
    )


def pool_path(xml: str) -> str:
    return parse_untrusted(xml, source="pool XML").findtext("target/path", "")
