"""Finishing or undoing operations whose owner died (SIGKILL, power loss), from their
intent records; on demand as ``vmctl repair``, and automatically by the next
operation that meets such a record.

Every operation records, before acting, each item it makes (create, image import:
repair removes them = undo) or removes (delete, image rm: repair removes them =
finish). Items are removed newest first by their kind's remover (``ops.safety.items``): what
is already gone is skipped, a domain is removed only if its UUID is the recorded one,
a volume only while no domain uses it. A repair first claims the record
(``ops.safety.claims``), so two repairs never work on one record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime

from vmctl.errors import Busy, NotFound, VmctlError
from vmctl.ops.safety.claims import claimed
from vmctl.ops.safety.intents import (TORN_OP, delete_if_same, is_alive, list_records, read_record, record_volume,
                               sweep_stages)
from vmctl.ops.safety.items import ItemOutcome, Removal, remove_items
from vmctl.spec.intent import MIGRATE_OPS, IntentRecord
from vmctl.spec.volumes import is_record_volume
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class RepairFinding:
    target: str
    op: str           # the interrupted operation ("" for an unreadable record)
    owner: str
    since: str
    state: str        # "running", "dead", "unreadable", "repairing" (another repair holds it) or
                      # "refused" (it cannot be repaired as things are: the reason is in items)
    action: str       # "undo", "finish", "settle", "remove record", "none"
    items: list[str] = field(default_factory=list)  # what was (or, with --dry-run, would be) done, as text
    done: bool = False
    outcomes: list[ItemOutcome] = field(default_factory=list)  # what was done, item by item
    error: VmctlError | None = field(default=None, repr=False, compare=False)  # why it was refused

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("error")
        return data


def repair_record(host: Host, pool: Pool, record: IntentRecord, where: Removal | None = None) -> list[ItemOutcome]:
    """Finish or undo a dead operation, holding the claim on its record (Busy while
    another repair holds it); returns what was done. The record goes last (if it is
    still the dead operation's), so an interrupted repair is repaired again next time."""
    with claimed(pool, record) as current:
        if current is None:
            return []  # released, repaired by someone else meanwhile, or alive after all
        if current.op in MIGRATE_OPS:
            from vmctl.ops.settle import repair_migration  # it reaches the other host

            done = [ItemOutcome("migration", current.target, "settled", line)
                    for line in repair_migration(host, pool, current)]
        else:
            done = remove_items(host, pool, current.repair_order, where)
        delete_if_same(pool, record_volume(current.target), current.target, current)
        return done


def _action(record: IntentRecord) -> str:
    return "remove record" if record.op == TORN_OP else record.repair_action


def repair(host: Host, pool: Pool, target: str | None = None, *, dry_run: bool = False,
           force_unreadable: bool = False) -> list[RepairFinding]:
    """Every intent record in the pool (or ``target``'s): dead ones are finished or
    undone (not with ``dry_run``), live ones reported. Records no one can read are
    removed once abandoned (see ``intents.TORN_GRACE``), at once for an explicit
    ``target`` (``force_unreadable``)."""
    findings, where = [], Removal.on(host, pool)  # who uses the pool's volumes: read once, kept current
    if not dry_run:
        sweep_stages(pool)
    for name, record in list_records(pool):
        if target is not None and name != target:
            continue
        if record is None:  # unreadable, and may be being written this instant
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
        owner = record.owner.describe() if record.op != TORN_OP else ""
        if is_alive(record):
            findings.append(RepairFinding(name, record.op, owner, since, "running", "none",
                                          [f"{i.kind} {i.name}" for i in record.items]))
            continue
        state = "unreadable" if record.op == TORN_OP else "dead"
        op = "" if record.op == TORN_OP else record.op
        if dry_run:
            items = [f"{i.kind} {i.name}" for i in record.repair_order] or ([record_volume(name)]
                                                                                if record.op == TORN_OP else [])
            findings.append(RepairFinding(name, op, owner, since, state, _action(record), items))
            continue
        try:
            outcomes = repair_record(host, pool, record, where)
        except Busy as exc:
            findings.append(RepairFinding(name, op, owner, since, "repairing", "none", [exc.message]))
            continue
        except VmctlError as exc:  # e.g. a migration whose other host is not known: this record waits
            if target is not None:
                raise
            findings.append(RepairFinding(name, op, owner, since, "refused", "none", [f"{exc.message} ({exc.hint})"],
                                          error=exc))
            continue
        items = [o.describe() for o in outcomes] or ([record_volume(name)] if record.op == TORN_OP else [])
        findings.append(RepairFinding(name, op, owner, since, state, _action(record), items, True, outcomes))
    return findings


def sweep(host: Host, pool: Pool) -> list[RepairFinding]:
    """Finish or undo every dead operation in the pool (run by the commands that change
    it, before they start): one listing of volume names when there is none."""
    if not any(is_record_volume(name) for name in pool.volume_names()):
        return []
    return [f for f in repair(host, pool) if f.done]


@dataclass(frozen=True)
class RepairReport:
    findings: list[RepairFinding]
    images_removed: list[str]   # builds of tiny no VM uses any more (or, dry run: that would go)

    def to_dict(self) -> dict[str, object]:
        return {"findings": [f.to_dict() for f in self.findings], "images_removed": self.images_removed}

    @property
    def refusal(self) -> VmctlError | None:
        """The first record that could not be repaired as things are (the others were)."""
        return next((f.error for f in self.findings if f.error is not None), None)


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
