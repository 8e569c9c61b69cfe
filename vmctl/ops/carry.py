"""Snapshots travel with a migration (libvirt refuses to migrate a domain that has
snapshot metadata, and peers drop them).

Before the transfer vmctl saves every snapshot's XML (parents first, and which one is
current) in a volume ``NAME.snapshots.json`` in the source pool, then lifts the
metadata off the source (the snapshots' data stays inside the qcow2 disks, which
shared storage shows to both hosts). After the transfer the metadata is redefined
where the guest runs: on the destination when it arrived, on the source when the
migration failed; a killed migration's repair does the same from the saved volume.
With --copy-storage the disks' internal snapshots would not be copied (QEMU copies a
disk's current state only), so such a migration is refused before anything changes.
"""

from __future__ import annotations

import json

from vmctl.errors import Conflict, NotFound
from vmctl.libvirtxml.snapshot import parse_snapshot
from vmctl.libvirtxml.storage import volume_xml
from vmctl.spec.volumes import carry_volume as _carry_volume
from vmctl.virt import domains, snapshots
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


def carry_volume(name: str) -> str:
    return _carry_volume(name)


def check_can_travel(dom: Domain, *, copy: bool) -> int:
    """How many snapshots will travel; Conflict where they cannot."""
    xmls = snapshots.list_xml(dom)
    if not xmls:
        return 0
    external = [f.name for f in map(parse_snapshot, xmls) if "external" in f.disks.values()]
    if external:
        raise Conflict(f"{dom.name} has external snapshots ({', '.join(external)}), which vmctl does not carry to "
                       "another host", hint="delete them, or keep the VM where it is; nothing was changed")
    if copy:
        raise Conflict(f"{dom.name} has {len(xmls)} internal snapshot(s): --copy-storage copies a disk's current "
                       "state only, so they would be lost", hint="migrate over storage both hosts see (no "
                       "--copy-storage), or delete the snapshots first; nothing was changed")
    return len(xmls)


def lift(dom: Domain, pool: Pool) -> bool:
    """Save the snapshots' metadata in the pool and remove it from the domain; False if
    there was none."""
    xmls = snapshots.list_xml(dom)
    if not xmls:
        return False
    data = json.dumps({"current": snapshots.current_name(dom), "snapshots": xmls}).encode()
    volume = carry_volume(dom.name)
    if pool.has_volume(volume):  # left by an earlier, settled attempt: this one is newer
        pool.delete_volume(volume)
    pool.create_volume(volume_xml(volume, len(data), "raw"))
    pool.upload(volume, data)
    for xml in reversed(xmls):  # children first
        snapshots.delete(dom, parse_snapshot(xml).name, metadata_only=True)
    return True


def put_back(host: Host, pool: Pool, name: str) -> int:
    """Redefine the saved snapshots on ``host`` (where the guest is now) and drop the
    saved copy; returns how many. Nothing saved: 0."""
    volume = carry_volume(name)
    try:
        saved = json.loads(pool.download(volume).rstrip(b"\0 "))
    except NotFound:
        return 0
    except ValueError:  # killed while saving it: the metadata was not lifted yet (that comes after)
        pool.delete_volume(volume)
        return 0
    dom = domains.lookup(host, name)
    have = {parse_snapshot(x).name for x in snapshots.list_xml(dom)}
    for xml in saved["snapshots"]:
        if parse_snapshot(xml).name not in have:
            snapshots.redefine(dom, xml, current=parse_snapshot(xml).name == saved.get("current"))
    pool.delete_volume(volume)
    return len(saved["snapshots"])


def put_back_where_it_runs(src: Host, dest: Host, pool: Pool | None, name: str) -> int:
    """After a settled migration: the guest is on one host; its snapshots go there."""
    if pool is None or not pool.has_volume(carry_volume(name)):
        return 0
    host = dest if domains.exists(dest, name) else src
    return put_back(host, pool, name)
