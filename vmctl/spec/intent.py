"""Intent records: what a mutating operation is doing, written before it does it.

A record names the operation, the object it works on, its owner (which process on
which machine, since when, and a heartbeat) and, write-ahead, each thing the
operation is about to make or remove. It is also the operation's lock. After the
owner dies (SIGKILL, power loss) anyone can read the record and finish or undo
the work: see ``vmctl.ops.intents`` and ``vmctl repair``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace

# What to do with a dead operation: undo what it made, or finish what it removed.
UNDO_OPS = {"create", "image-import", "snapshot-create", "restore", "backup"}
FINISH_OPS = {"delete", "image-rm", "snapshot-delete"}
# A migration is settled: kept on whichever host has the real copy, removed from the other.
MIGRATE_OPS = {"migrate", "migrate-in"}
RECORD_FORMAT = 1


@dataclass(frozen=True)
class Owner:
    """Who runs an operation. ``machine`` and ``boot`` tell a restarted machine apart;
    ``pid`` + ``start`` (the process start time in clock ticks since boot) tell a
    reused pid apart."""

    machine: str
    boot: str
    pid: int
    start: int
    hostname: str
    user: str

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
    format: int = RECORD_FORMAT

    @property
    def repair_action(self) -> str:
        if self.op in MIGRATE_OPS:
            return "settle"
        return "finish" if self.op in FINISH_OPS else "undo"

    def with_item(self, item: Item) -> "IntentRecord":
        return self if item in self.items else replace(self, items=(*self.items, item))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "IntentRecord":
        """Parse a record (trailing NUL or space padding is ignored). Raises ValueError."""
        data = json.loads(raw.rstrip(b"\0 \n").decode())
        if not isinstance(data, dict) or data.get("format") != RECORD_FORMAT:
            raise ValueError("not a vmctl intent record of a known format")
        owner = Owner(**data["owner"])
        items = tuple(Item(**i) for i in data.get("items", ()))
        return cls(op=str(data["op"]), target=str(data["target"]), owner=owner, started=float(data["started"]),
                   heartbeat=float(data["heartbeat"]), items=items, data=dict(data.get("data") or {}))
