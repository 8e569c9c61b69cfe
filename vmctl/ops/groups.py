"""Group snapshots: several VMs at one instant, all or nothing.

The VMs are locked (in name order, so two group operations cannot deadlock), the
running ones paused together, each snapshotted with its memory, and resumed
together; if any snapshot fails, the others' new snapshots are deleted. A group
revert reverts each VM to its snapshot of that group, paused, then resumes them
together, so they go on from the same instant.
"""

from __future__ import annotations

from contextlib import ExitStack

from vmctl.errors import NotFound, VmctlError
from vmctl.libvirtxml.facts import parse_domain
from vmctl.ops.operation import Operation
from vmctl.ops.revert import revert_unlocked
from vmctl.libvirtxml.snapshot import parse_snapshot
from vmctl.ops.snapshots import SnapshotInfo, create_snapshot, drop_note, get_snapshot
from vmctl.signals import deferred_signals
from vmctl.spec.names import check_name
from vmctl.virt import domains, snapshots
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


def group_members(host: Host, label: str) -> dict[str, str]:
    """VM name -> its snapshot of group ``label``."""
    members = {}
    for record in domains.list_all(host):
        for name, _consistency, group in parse_domain(record.xml).meta.snapshots:
            if group == label:
                members[record.name] = name
    return members


def create_group(host: Host, pool: Pool, label: str, names: list[str], *, description: str = "") -> list[SnapshotInfo]:
    check_name(label, "group")
    names = sorted({check_name(n) for n in names})
    if len(names) < 2:
        raise VmctlError("a group snapshot needs at least two VMs", hint="or use `vmctl snapshot create NAME`")
    with ExitStack() as locks:
        ops = {n: locks.enter_context(Operation(host, pool, "snapshot-create", n)) for n in names}
        doms = {n: domains.lookup(host, n) for n in names}
        paused = [n for n in names if doms[n].state() == "running"]
        taken: list[str] = []
        try:
            for name in paused:
                snapshots.suspend(doms[name])
            for name in names:
                create_snapshot(host, pool, name, label, description=description, group=label, op=ops[name])
                taken.append(name)
        except BaseException:
            with deferred_signals():
                for name in taken:  # all or nothing
                    _forget(doms[name], label)
            raise
        finally:
            with deferred_signals():
                for name in paused:
                    if doms[name].state() == "paused":
                        doms[name].resume()
    return [get_snapshot(host, n, label) for n in names]


def _forget(dom, snap: str) -> None:
    try:
        snapshots.delete(dom, snap)
    except NotFound:
        pass
    drop_note(dom, snap)


def revert_group(host: Host, pool: Pool, label: str) -> dict[str, str]:
    """Revert every VM of the group; returns VM -> snapshot."""
    members = group_members(host, check_name(label, "group"))
    if not members:
        raise NotFound(f"no VM has a snapshot of group {label!r}", hint="see `vmctl snapshot list --group LABEL`")
    with ExitStack() as locks:
        for name in sorted(members):
            locks.enter_context(Operation(host, pool, "snapshot-revert", name))
        doms = {n: domains.lookup(host, n) for n in members}
        was_running = {n for n in members if _state_then(doms[n], members[n]) in ("running", "paused")}
        for name in sorted(members):
            revert_unlocked(host, doms[name], members[name], state="paused" if name in was_running else "")
        for name in sorted(was_running):
            doms[name].resume()
    return members


def _state_then(dom, snap: str) -> str:
    """The VM's state when the snapshot was taken."""
    return parse_snapshot(snapshots.xml_of(dom, snap)).state
