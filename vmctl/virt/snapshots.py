"""Domain snapshots through libvirt: create, list, revert, delete, redefine; the guest
agent's clock and filesystem calls used around them."""

from __future__ import annotations

import time

import libvirt

from vmctl.errors import NotFound
from vmctl.virt.domains import Domain
from vmctl.virt.errors import libvirt_errors, lookup


def create(dom: Domain, xml: str, *, quiesce: bool = False, disk_only: bool = False) -> str:
    """Take a snapshot atomically (all disks or none); returns its XML."""
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
    if quiesce:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_QUIESCE
    if disk_only:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
    with libvirt_errors(f"snapshot {dom.name}"):
        return dom._dom.snapshotCreateXML(xml, flags).getXMLDesc(0)


def redefine(dom: Domain, xml: str, *, current: bool = False) -> None:
    """Put snapshot metadata back (after a migration, or a failed one)."""
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_REDEFINE
    if current:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_CURRENT
    with libvirt_errors(f"restore the snapshot metadata of {dom.name}"):
        dom._dom.snapshotCreateXML(xml, flags)


def _lookup(dom: Domain, name: str) -> libvirt.virDomainSnapshot:
    return lookup(lambda: dom._dom.snapshotLookupByName(name, 0), libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
                  NotFound(f"{dom.name} has no snapshot named {name!r}", hint=f"see `vmctl snapshot list {dom.name}`"),
                  f"look up snapshot {name} of {dom.name}")


def xml_of(dom: Domain, name: str) -> str:
    snap = _lookup(dom, name)
    with libvirt_errors(f"read snapshot {name} of {dom.name}"):
        return snap.getXMLDesc(0)


def list_xml(dom: Domain) -> list[str]:
    """Every snapshot's XML, parents before children."""
    with libvirt_errors(f"list the snapshots of {dom.name}"):
        snaps = dom._dom.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_TOPOLOGICAL)
        return [s.getXMLDesc(0) for s in snaps]


def current_name(dom: Domain) -> str | None:
    with libvirt_errors(f"read the current snapshot of {dom.name}"):
        if not dom._dom.hasCurrentSnapshot(0):
            return None
        return dom._dom.snapshotCurrent(0).getName()


def revert(dom: Domain, name: str, *, state: str = "") -> None:
    """Revert; ``state`` "running" or "paused" forces that state, "" keeps the snapshot's."""
    snap = _lookup(dom, name)
    flags = {"running": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_RUNNING,
             "paused": libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED}.get(state, 0)
    with libvirt_errors(f"revert {dom.name} to snapshot {name}"):
        dom._dom.revertToSnapshot(snap, flags)


def delete(dom: Domain, name: str, *, children: bool = False, metadata_only: bool = False) -> None:
    snap = _lookup(dom, name)
    flags = libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN if children else 0
    if metadata_only:
        flags |= libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_METADATA_ONLY
    with libvirt_errors(f"delete snapshot {name} of {dom.name}"):
        snap.delete(flags)


def children_of(dom: Domain, name: str) -> list[str]:
    snap = _lookup(dom, name)
    with libvirt_errors(f"list the children of snapshot {name}"):
        return [s.getName() for s in snap.listAllChildren(0)]


def agent_available(dom: Domain, timeout: int = 5) -> bool:
    """Whether a guest agent answers (a ping through libvirt, bounded by ``timeout`` s)."""
    try:
        import libvirt_qemu

        libvirt_qemu.qemuAgentCommand(dom._dom, '{"execute":"guest-ping"}', timeout, 0)
        return True
    except (libvirt.libvirtError, ImportError):
        return False


def agent_set_time(dom: Domain) -> None:
    """The guest's clock to the host's, through the guest agent."""
    now = time.time()
    with libvirt_errors(f"set the clock of {dom.name}"):
        dom._dom.setTime({"seconds": int(now), "nseconds": int((now % 1) * 1e9)}, 0)


def suspend(dom: Domain) -> None:
    with libvirt_errors(f"pause {dom.name}"):
        dom._dom.suspend()
