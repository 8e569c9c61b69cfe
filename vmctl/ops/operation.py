"""A mutating operation: its intent record (the lock), write-ahead, and its undo stack.

    with Operation(host, pool, "create", name) as op:
        op.will("volume", disk)            # recorded before it is made
        pool.create_volume(...)
        op.on_undo(pool.delete_volume, disk)
        ...

On failure or a signal the undo steps run, newest first, with further signals
held back; the record is dropped only once they all succeeded, so what could not
be undone stays recorded for ``vmctl repair``. Operations that remove things
(``finishes=True``: delete, image rm) are finished instead of undone when
interrupted: the user asked for the thing to be gone.

An operation whose record is no longer its own (it stalled, was judged dead and was
repaired; a new owner may hold the name now) undoes nothing: what it made was
removed by that repair, and what carries the name now is someone else's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from vmctl.errors import NotFound
from vmctl.signals import deferred_signals
from vmctl.ops.intents import Intent, begin
from vmctl.ops.items import ItemOutcome, remove_item
from vmctl.ops.repair import repair_record
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


class Operation:
    def __init__(self, host: Host, pool: Pool, op: str, target: str, *, finishes: bool = False) -> None:
        self.host, self.pool, self.op, self.target, self.finishes = host, pool, op, target, finishes
        self.intent: Intent | None = None
        self._undo: list[Callable[[], object]] = []

    def __enter__(self) -> "Operation":
        self.repaired_record = False

        def repair(record):
            self.repaired_record = True
            return repair_record(self.host, self.pool, record)
        self.intent = begin(self.pool, self.op, self.target, repair=repair)
        return self

    @property
    def repaired(self) -> list[ItemOutcome]:
        """What a dead earlier operation on the same target left and was removed first."""
        assert self.intent is not None
        return self.intent.repaired

    def will(self, kind: str, name: str, uuid: str = "") -> None:
        assert self.intent is not None
        self.intent.will(kind, name, uuid)

    def note(self, key: str, value: str) -> None:
        """Record an operation-specific fact (write-ahead, like ``will``)."""
        assert self.intent is not None
        self.intent.note(key, value)

    def on_undo(self, func: Callable[..., object], *args: object) -> None:
        self._undo.append(partial(func, *args))

    def commit(self) -> None:
        """Nothing is to be undone any more (the operation reached its goal)."""
        self._undo.clear()

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.intent is not None
        if exc is None:
            self.intent.release()
            return
        with deferred_signals():
            if not self.intent.still_owned():
                self._undo.clear()
                self.intent.stop_heartbeat()  # repaired by someone else: nothing here is ours to touch
                return
            clean = self._finish() if self.finishes and isinstance(exc, KeyboardInterrupt) else self._unwind()
        if clean:
            self.intent.release()
        else:
            self.intent.stop_heartbeat()  # leave the record for `vmctl repair`

    def _unwind(self) -> bool:
        clean = True
        for step in reversed(self._undo):
            try:
                step()
            except NotFound:
                pass  # already gone (e.g. a seed volume a later step replaced)
            except Exception:  # noqa: BLE001 - keep undoing the rest; the record keeps what is left
                clean = False
        self._undo.clear()
        return clean

    def _finish(self) -> bool:
        assert self.intent is not None
        try:
            for item in self.intent.record.repair_order:
                if remove_item(self.host, self.pool, item).result == "kept":
                    return False  # e.g. still in use: the record stays and says so
        except Exception:  # noqa: BLE001 - the record stays: repair finishes it
            return False
        return True
