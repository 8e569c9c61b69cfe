"""Snapshots: take, list, inspect and delete them, with a strategy that never loses data.

- A running (or paused) VM gets a snapshot **with memory** (internal, in its qcow2
  disk): reverting brings back the running guest exactly. A shut-off VM gets a disk
  snapshot (internal).
- ``disk_only`` makes an **external** disk-only snapshot (a new overlay volume per
  disk, ``--quiesce`` freezes the guest's filesystems for it through the guest
  agent). libvirt 9.0 cannot revert external snapshots: they are for backups and
  for other tools, and vmctl says so.
- Refused, before anything is made: a duplicate name; mixing internal and external
  snapshots on one VM (a revert would silently drop overlays); internal snapshots
  on disks that cannot hold them (raw); ``--quiesce`` without a guest agent (never
  a silent downgrade); a VM whose seed still holds its private host key.

Each snapshot vmctl took has a note in the VM's metadata (name, consistency,
group). One that an unfinished or killed `snapshot create` names in its intent
record is "incomplete": the next operation on the VM (or `vmctl repair`) removes
it. Snapshots made outside vmctl (virsh) have no note: consistency unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from vmctl.errors import Conflict, InvalidInput, OperationFailed, VmctlError
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.snapshot import SnapshotFacts, parse_snapshot, snapshot_xml
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.seed import has_secret_seed
from vmctl.ops.vms import update_meta
from vmctl.spec.names import check_name
from vmctl.spec.volumes import overlay_volume
from vmctl.virt import domains, snapshots
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

CONSISTENCY = ("memory", "quiesced", "crash-consistent")


@dataclass(frozen=True)
class SnapshotInfo:
    vm: str
    name: str
    parent: str | None
    created: str          # ISO 8601, UTC
    state: str            # the VM's state when it was taken
    memory: bool
    consistency: str      # memory, quiesced, crash-consistent ("" when incomplete)
    kind: str             # internal or external
    description: str
    size: int | None      # bytes of saved memory (internal, local hosts), else None
    group: str
    complete: bool
    current: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def notes_of(dom: Domain) -> dict[str, tuple[str, str]]:
    """snapshot name -> (consistency, group) for vmctl's complete snapshots."""
    return {n: (c, g) for n, c, g in parse_domain(dom.xml(inactive=True)).meta.snapshots}


def set_note(dom: Domain, name: str, consistency: str, group: str) -> None:
    notes = parse_domain(dom.xml(inactive=True)).meta.snapshots
    update_meta(dom, snapshots=(*[n for n in notes if n[0] != name], (name, consistency, group)))


def drop_note(dom: Domain, name: str) -> None:
    notes = parse_domain(dom.xml(inactive=True)).meta.snapshots
    update_meta(dom, snapshots=tuple(n for n in notes if n[0] != name))


def pending_snapshots(pool: Pool | None, vm: str) -> set[str]:
    """Snapshots an unfinished (or killed) `snapshot create` of ``vm`` names: incomplete."""
    from vmctl.ops.safety.intents import read_record

    if pool is None:
        return set()
    try:
        record = read_record(pool, vm)
    except VmctlError:
        return set()
    if record is None or record.op != "snapshot-create":
        return set()
    return {i.name.partition("/")[2] for i in record.items if i.kind == "snapshot"}


def snapshot_info(host: Host, dom: Domain, facts: SnapshotFacts, notes: dict[str, tuple[str, str]],
                  current: str | None, pending: set[str] = frozenset()) -> SnapshotInfo:  # type: ignore[assignment]
    kind = "external" if "external" in facts.disks.values() else "internal"
    consistency, group = notes.get(facts.name, ("", ""))
    return SnapshotInfo(
        vm=dom.name, name=facts.name, parent=facts.parent,
        created=datetime.fromtimestamp(facts.created, timezone.utc).isoformat(timespec="seconds"),
        state=facts.state, memory=facts.memory != "no", consistency=consistency, kind=kind,
        description=facts.description, size=_memory_size(host, dom, facts) if kind == "internal" else None,
        group=group, complete=facts.name not in pending, current=facts.name == current)


def _memory_size(host: Host, dom: Domain, facts: SnapshotFacts) -> int | None:
    """vm-state-size from qemu-img (local hosts only; -U: the disk may be in use)."""
    if not host.is_local or facts.memory == "no":
        return None
    from vmctl.local import qemuimg

    for disk in parse_domain(dom.xml(inactive=True)).disks:
        if facts.disks.get(disk.target) == "internal" and disk.path:
            try:
                found = qemuimg.info(disk.path).get("snapshots", [])
            except OperationFailed:
                return None  # the size is informative: a disk qemu-img cannot read now just has none
            for snap in found:
                if snap.get("name") == facts.name:
                    return int(snap.get("vm-state-size", 0))
    return None


def list_snapshots(host: Host, name: str, pool: Pool | None = None) -> list[SnapshotInfo]:
    dom = domains.lookup(host, check_name(name))
    notes, current, pending = notes_of(dom), snapshots.current_name(dom), pending_snapshots(pool, name)
    return [snapshot_info(host, dom, parse_snapshot(x), notes, current, pending) for x in snapshots.list_xml(dom)]


def get_snapshot(host: Host, name: str, snap: str, pool: Pool | None = None) -> SnapshotInfo:
    dom = domains.lookup(host, check_name(name))
    facts = parse_snapshot(snapshots.xml_of(dom, check_name(snap, "snapshot")))
    return snapshot_info(host, dom, facts, notes_of(dom), snapshots.current_name(dom), pending_snapshots(pool, name))


def default_name() -> str:
    return datetime.now(timezone.utc).strftime("snap-%Y%m%d-%H%M%S")


def plan_disks(dom: Domain, *, disk_only: bool, pool: Pool, snap: str) -> tuple[dict[str, str], dict[str, str]]:
    """What to do with each disk: (target -> internal/external/no, target -> overlay path)."""
    facts = parse_domain(dom.xml(inactive=True))
    disks, external = {}, {}
    for disk in facts.disks:
        if disk.device == "cdrom" or not disk.path:
            disks[disk.target] = "no"  # read-only media: nothing to keep
            continue
        if disk_only:
            disks[disk.target] = "external"
            external[disk.target] = f"{pool.path}/{overlay_volume(dom.name, disk.target, snap)}"
        elif disk.format != "qcow2":
            raise InvalidInput(f"{dom.name}'s disk {disk.target} is {disk.format or 'not qcow2'}: it cannot hold "
                               "internal snapshots", hint="use --disk-only (external, cannot be reverted here), or "
                               "convert the disk to qcow2")
        else:
            disks[disk.target] = "internal"
    return disks, external


def check_can_snapshot(dom: Domain, snap: str, *, disk_only: bool) -> None:
    existing = {f.name: f for f in map(parse_snapshot, snapshots.list_xml(dom))}
    if snap in existing:
        raise Conflict(f"{dom.name} already has a snapshot named {snap!r}", hint="pick another name or delete it")
    kinds = {"external" if "external" in f.disks.values() else "internal" for f in existing.values()}
    wanted = "external" if disk_only else "internal"
    if kinds and wanted not in kinds:
        raise Conflict(f"{dom.name} has {kinds.pop()} snapshots; vmctl does not mix internal and external snapshots "
                       "on one VM", hint="a revert would silently drop the other kind's overlays; delete the "
                       "existing snapshots first, or keep to one kind")
    meta = parse_domain(dom.xml(inactive=True)).meta
    if has_secret_seed(meta.volumes, dom.name):
        raise Conflict(f"{dom.name} has not finished its first boot (its seed still holds its private host key)",
                       hint=f"wait for it first: `vmctl wait {dom.name}`")


def create_snapshot(host: Host, pool: Pool, name: str, snap: str | None = None, *, description: str = "",
                    quiesce: bool = False, disk_only: bool = False, group: str = "",
                    op: Operation | None = None, on_stage: StageCallback | None = None) -> SnapshotInfo:
    """Take a snapshot (see the module doc); ``op``: a caller's operation holding the VM's
    lock (group snapshots), else one is taken here. ``on_stage(stage, seconds)`` hears of
    "locked", "checked" and "taken" as they are reached."""
    snap = check_name(snap or default_name(), "snapshot")
    stage = stage_teller(on_stage)
    if op is None:
        with Operation(host, pool, "snapshot-create", check_name(name)) as own:
            stage("locked")
            return create_snapshot(host, pool, name, snap, description=description, quiesce=quiesce,
                                   disk_only=disk_only, group=group, op=own,
                                   on_stage=on_stage and (lambda what, _seconds: stage(what)))
    dom = domains.lookup(host, name)
    if quiesce and not disk_only:
        raise InvalidInput("--quiesce freezes the filesystems for a disk-only snapshot",
                           hint="use --quiesce with --disk-only; a running VM's default snapshot keeps its memory, "
                                "which is consistent without freezing")
    check_can_snapshot(dom, snap, disk_only=disk_only)
    if quiesce and not snapshots.agent_available(dom):
        raise InvalidInput(f"--quiesce needs the QEMU guest agent in {name}, and none answers",
                           hint="install and start qemu-guest-agent in the guest (with an agent channel in the "
                                "domain), or drop --quiesce")
    running = dom.state() in ("running", "paused")
    disks, external = plan_disks(dom, disk_only=disk_only, pool=pool, snap=snap)
    memory = running and not disk_only
    xml = snapshot_xml(snap, description=description, memory=memory, disks=disks, external=external)
    stage("checked")
    op.will("snapshot", f"{name}/{snap}")
    for path in external.values():
        op.will("volume", Path(path).name)
    checkpoint("snapshot-create:recorded")
    snapshots.create(dom, xml, quiesce=quiesce, disk_only=disk_only)
    if not external:  # (an external snapshot moved the disks onto overlays: not undone here)
        op.on_undo(snapshots.delete, dom, snap)
    checkpoint("snapshot-create:taken")
    stage("taken")
    consistency = "memory" if memory else "quiesced" if quiesce else "crash-consistent"
    if external:
        _own_overlays(dom, external.values())
    set_note(dom, snap, consistency, group)
    op.commit()
    return get_snapshot(host, name, snap)


StageCallback = Callable[[str, float], object]


def stage_teller(on_stage: StageCallback | None) -> Callable[[str], None]:
    """``stage(name)`` tells ``on_stage(name, seconds since now)``, if there is one."""
    started = time.monotonic()

    def stage(name: str) -> None:
        if on_stage is not None:
            on_stage(name, time.monotonic() - started)
    return stage


def _own_overlays(dom: Domain, paths) -> None:
    """An external snapshot's overlays are the VM's own volumes now (delete removes them)."""
    volumes = parse_domain(dom.xml(inactive=True)).meta.volumes
    update_meta(dom, volumes=(*volumes, *(Path(p).name for p in paths if Path(p).name not in volumes)))


def adopt_external(dom: Domain, xml: str) -> None:
    """Finish an external snapshot whose `snapshot create` was killed after libvirt made
    it: the guest writes to its overlays, so they become the VM's, and it is noted as
    crash-consistent (whether a freeze happened is not known)."""
    facts = parse_snapshot(xml)
    _own_overlays(dom, facts.external_files.values())
    set_note(dom, facts.name, "crash-consistent", "")


def delete_snapshot(host: Host, pool: Pool, name: str, snap: str, *, children: bool = False) -> list[str]:
    """Delete a snapshot (and with ``children`` its descendants); returns their names."""
    with Operation(host, pool, "snapshot-delete", check_name(name)):
        dom = domains.lookup(host, name)
        check_name(snap, "snapshot")
        below = snapshots.children_of(dom, snap)
        if below and not children:
            raise Conflict(f"snapshot {snap} of {name} has child snapshots: {', '.join(below)}",
                           hint="delete those first, or pass --children to delete them too")
        gone = [snap, *(_descendants(dom, snap) if children else [])]
        snapshots.delete(dom, snap, children=children)
        for item in gone:
            drop_note(dom, item)
        return gone


def _descendants(dom: Domain, snap: str) -> list[str]:
    out, todo = [], [snap]
    while todo:
        for child in snapshots.children_of(dom, todo.pop()):
            out.append(child)
            todo.append(child)
    return out
