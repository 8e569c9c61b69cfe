"""Finishing or undoing operations whose owner died (SIGKILL, power loss), from their
intent records; on demand as ``vmctl repair``, and automatically by the next
operation that meets such a record.

Every operation records, before acting, each item it makes (create, image import:
repair removes them = undo) or removes (delete, image rm: repair removes them =
finish). Items are removed newest first; what is already gone is skipped, and a
domain is removed only if its UUID is the recorded one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from vmctl.errors import NotFound, VmctlError
from vmctl.ops.intents import is_alive, list_records, read_record, record_volume
from vmctl.spec.intent import MIGRATE_OPS, IntentRecord, Item
from vmctl.spec.volumes import intent_target, is_partial
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class RepairFinding:
    target: str
    op: str           # the interrupted operation ("" for an unreadable record)
    owner: str
    since: str
    state: str        # "running", "dead" or "unreadable"
    action: str       # "undo", "finish", "remove record", "none"
    items: list[str] = field(default_factory=list)  # what was (or, with --dry-run, would be) removed
    done: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def describe(item: Item) -> str:
    return f"{item.kind} {item.name}"


def remove_item(host: Host, pool: Pool, item: Item) -> bool:
    """Remove one recorded item if it is still there; True if something was removed."""
    if item.kind == "volume":
        try:
            pool.delete_volume(item.name)
        except NotFound:
            return False
        return True
    if item.kind == "domain":
        try:
            dom = domains.lookup(host, item.name)
        except NotFound:
            return False
        if item.uuid and dom.uuid != item.uuid:
            return False  # a same-named domain someone made later: not ours to touch
        dom.destroy()
        dom.undefine()
        return True
    if item.kind == "partial":  # a killed backup's unfinished file or directory (on the machine that ran it)
        import shutil
        from pathlib import Path

        path = Path(item.name)
        if not is_partial(path.name) or not (path.is_dir() or path.is_file()) or path.is_symlink():
            return False
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
        return True
    if item.kind == "snapshot":  # "VM/SNAPSHOT": a half-taken snapshot (its note was never written)
        from vmctl.virt import snapshots

        from vmctl.libvirtxml.facts import parse_domain

        vm, _, snap = item.name.partition("/")
        try:
            dom = domains.lookup(host, vm)
            if any(note[0] == snap for note in parse_domain(dom.xml(inactive=True)).meta.snapshots):
                return False  # it was complete (noted) when its owner died: keep it
            snapshots.delete(dom, snap)
        except NotFound:
            return False
        return True
    raise VmctlError(f"intent record names an item vmctl cannot remove: {describe(item)}",
                     hint="a newer vmctl wrote it; repair with that version")


def repair_record(host: Host, pool: Pool, record: IntentRecord) -> list[str]:
    """Finish or undo a dead operation; returns what was removed. The record goes last,
    so an interrupted repair is repaired again next time."""
    if record.op in MIGRATE_OPS:
        from vmctl.ops.settle import repair_migration  # it reaches the other host

        return repair_migration(host, pool, record)
    removed = [describe(item) for item in reversed(record.items) if remove_item(host, pool, item)]
    try:
        pool.delete_volume(record_volume(record.target))
    except NotFound:
        pass
    return removed


def repair(host: Host, pool: Pool, target: str | None = None, *, dry_run: bool = False,
           force_unreadable: bool = False) -> list[RepairFinding]:
    """Every intent record in the pool (or ``target``'s): dead ones are finished or
    undone (not with ``dry_run``), live ones reported. Unreadable records are removed
    only for an explicit ``target`` (``force_unreadable``)."""
    findings = []
    for name, record in list_records(pool):
        if target is not None and name != target:
            continue
        if record is None:
            action = "remove record" if force_unreadable else "none"
            done = False
            if force_unreadable and not dry_run:
                try:
                    pool.delete_volume(record_volume(name))
                except NotFound:
                    pass
                done = True
            findings.append(RepairFinding(name, "", "", "", "unreadable", action, [record_volume(name)], done))
            continue
        since = datetime.fromtimestamp(record.started).isoformat(timespec="seconds")
        if is_alive(record):
            findings.append(RepairFinding(name, record.op, record.owner.describe(), since, "running", "none",
                                          [describe(i) for i in record.items]))
            continue
        if dry_run:
            items = [describe(i) for i in reversed(record.items)]
            findings.append(RepairFinding(name, record.op, record.owner.describe(), since, "dead",
                                          record.repair_action, items))
            continue
        removed = repair_record(host, pool, record)
        findings.append(RepairFinding(name, record.op, record.owner.describe(), since, "dead",
                                      record.repair_action, removed, True))
    return findings


def sweep(host: Host, pool: Pool) -> list[RepairFinding]:
    """Finish or undo every dead operation in the pool (run by the commands that change
    it, before they start): one listing of volume names when there is none."""
    if not any(intent_target(name) is not None for name in pool.volume_names()):
        return []
    return [f for f in repair(host, pool) if f.done]


@dataclass(frozen=True)
class RepairReport:
    findings: list[RepairFinding]
    images_removed: list[str]   # builds of tiny no VM uses any more (or, dry run: that would go)

    def to_dict(self) -> dict[str, object]:
        return {"findings": [f.to_dict() for f in self.findings], "images_removed": self.images_removed}


def half_made_hint(pool: Pool | None, name: str) -> str | None:
    """For a name with no domain: what an interrupted operation left, as a hint."""
    if pool is None:
        return None
    try:
        record = read_record(pool, name)
    except VmctlError:
        return None
    if record is None:
        return None
    if is_alive(record):
        return f"{name} is being made right now: {record.op} by {record.owner.describe()}"
    return f"a {record.op} of {name} was interrupted ({record.owner.describe()} is gone): " \
           f"`vmctl repair {name}` (or `vmctl delete {name}`) removes what it left"
