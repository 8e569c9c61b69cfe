"""Intent records: what a mutating operation is doing, written before it does it.

A record names the operation, the object it works on, its owner (which process on
which machine, since when, and a heartbeat) and, write-ahead, each thing the
operation is about to make or remove. It is also the operation's lock. After the
owner dies (SIGKILL, power loss) anyone can read the record and finish or undo
the work: see ``vmctl.ops.safety.intents`` and ``vmctl repair``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

# What to do with a dead operation: undo what it made, or finish what it removed.
UNDO_OPS = {"create", "run", "clone", "disk-add", "image-import", "snapshot-create", "restore", "backup"}
FINISH_OPS = {"delete", "image-rm", "snapshot-delete", "disk-rm"}
# A migration is settled: kept on whichever host has the real copy, removed from the other.
MIGRATE_OPS = {"migrate", "migrate-in"}
RECORD_FORMAT = 2
READABLE_FORMATS = {1, 2}  # 1: written by vmctl before owners named their pid namespace


@dataclass(frozen=True)
class Owner:
    """Who runs an operation. ``machine`` + ``boot`` + ``pidns`` name one pid space
    (containers may share a machine-id, never a kernel's pid namespace); ``pid`` +
    ``start`` (the process start time in clock ticks since boot) tell a reused pid
    apart."""

    machine: str
    boot: str
    pid: int
    start: int
    hostname: str
    user: str
    pidns: str = ""  # e.g. "pid:[4026531836]"; "" in format-1 records

    def describe(self) -> str:
        return f"pid {self.pid} of {self.user}@{self.hostname}"


@dataclass(frozen=True)
class Item:
    """One thing an operation makes or removes: a volume, a domain, a snapshot..."""

    kind: str   # "volume", "domain", "snapshot", ...
    name: str   # volume name, domain name, ...
    uuid: str = ""  # a domain's UUID: never touch a same-named domain someone else made


@dataclass(frozen=True)
class IntentRecord:
    op: str          # "create", "delete", "image-import", "image-rm", ...
    target: str      # the VM or image name
    owner: Owner
    started: float   # wall clock, seconds
    heartbeat: float  # wall clock, refreshed while the owner runs
    items: tuple[Item, ...] = ()
    data: dict[str, str] = field(default_factory=dict)  # op-specific facts (e.g. a domain's saved XML)
    token: str = ""  # random, per record: tells this record from a later one for the same target
    seq: int = 0     # write number: of two copies of a record, the higher one is current
    format: int = RECORD_FORMAT

    @property
    def repair_action(self) -> str:
        if self.op in MIGRATE_OPS:
            return "settle"
        return "finish" if self.op in FINISH_OPS else "undo"

    @property
    def repair_order(self) -> tuple[Item, ...]:
        """Undo: newest first (a domain goes before the disks it was made on). Finish: as
        the operation went (the domain is stopped and undefined before its disks go)."""
        return self.items if self.repair_action == "finish" else tuple(reversed(self.items))

    def with_item(self, item: Item) -> "IntentRecord":
        return self if item in self.items else replace(self, items=(*self.items, item))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "IntentRecord":
        """Parse a record (trailing NUL or space padding is ignored). Raises ValueError."""
        data = json.loads(raw.rstrip(b"\0 \n").decode())
        if not isinstance(data, dict) or data.get("format") not in READABLE_FORMATS:
            raise ValueError("not a vmctl intent record of a known format")
        owner = Owner(**data["owner"])
        items = tuple(Item(**i) for i in data.get("items", ()))
        return cls(op=str(data["op"]), target=str(data["target"]), owner=owner, started=float(data["started"]),
                   heartbeat=float(data["heartbeat"]), items=items, data=dict(data.get("data") or {}),
                   token=str(data.get("token", "")), seq=int(data.get("seq", 0)))

    def same_record(self, other: "IntentRecord") -> bool:
        """The same operation's record (perhaps a later write of it)."""
        return (self.token, self.owner, self.started, self.op) == (other.token, other.owner, other.started, other.op)
