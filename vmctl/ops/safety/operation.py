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
from vmctl.ops.safety.intents import Intent, begin
from vmctl.ops.safety.items import KEPT, ItemOutcome, remove_items
from vmctl.ops.safety.repair import repair_record
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


class Operation:
    """One operation: its record (the lock) on the host it works on and, for an
    operation spanning two hosts (a migration), a second record on the other host
    (:meth:`also_on`); one undo stack for both."""

    def __init__(self, host: Host, pool: Pool, op: str, target: str, *, finishes: bool = False,
                 data: dict[str, str] | None = None) -> None:
        self.host, self.pool, self.op, self.target, self.finishes = host, pool, op, target, finishes
        self.data = dict(data or {})
        self.intent: Intent | None = None
        self.others: list[Intent] = []  # the same operation's records on other hosts
        self._undo: list[Callable[[], object]] = []
        self.repaired_record = False
        self._undo_on_success = False

    def __enter__(self) -> "Operation":
        return self.begin()

    def begin(self) -> "Operation":
        """Take the lock on the target (a dead owner's work is repaired first)."""
        def repair(record):
            self.repaired_record = True
            return repair_record(self.host, self.pool, record)
        self.intent = begin(self.pool, self.op, self.target, repair=repair, data=self.data)
        return self

    def also_on(self, host: Host, pool: Pool, op: str) -> Intent:
        """Lock the target on a second host too (its own record, with this operation's
        facts); released with this one. On failure here, this operation's lock goes."""
        assert self.intent is not None
        try:
            intent = begin(pool, op, self.target, data=self.intent.record.data,
                           repair=lambda record: repair_record(host, pool, record))
        except BaseException:
            self.release(clean=True)
            raise
        self.others.append(intent)
        return intent

    @property
    def records(self) -> list[Intent]:
        return [i for i in (self.intent, *self.others) if i is not None]

    @property
    def repaired(self) -> list[ItemOutcome]:
        """What a dead earlier operation on the same target left and was removed first."""
        assert self.intent is not None
        return self.intent.repaired

    def will(self, kind: str, name: str, uuid: str = "", *, on: Intent | None = None) -> None:
        """Record, before doing it, that this makes (or removes) an item: on this host,
        or ``on`` the other host's record."""
        target = on or self.intent
        assert target is not None
        target.will(kind, name, uuid)

    def note(self, key: str, value: str) -> None:
        """Record an operation-specific fact (write-ahead, like ``will``), on every host."""
        for intent in self.records:
            intent.note(key, value)

    def on_undo(self, func: Callable[..., object], *args: object) -> None:
        self._undo.append(partial(func, *args))

    def commit(self) -> None:
        """Nothing is to be undone any more (the operation reached its goal)."""
        self._undo.clear()
        self._undo_on_success = False

    def undo_on_exit(self) -> None:
        """Undo everything also when the block ends normally: an ephemeral operation
        (``vmctl run``) makes things only for as long as it runs. Unless :meth:`commit`
        is called, what could not be undone stays recorded for ``vmctl repair``."""
        self._undo_on_success = True

    def release(self, clean: bool) -> None:
        """Drop the records (``clean``: nothing is left to repair), or keep them for
        ``vmctl repair`` and stop their heartbeats."""
        for intent in reversed(self.records):
            if clean:
                intent.release()
            else:
                intent.stop_heartbeat()

    def still_owned(self) -> bool:
        return all(intent.still_owned() for intent in self.records)

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.intent is not None
        if exc is None:
            if self._undo_on_success and self._undo:
                with deferred_signals():
                    clean = self.unwind() if self.still_owned() else False
                self.release(clean)
                return
            self.release(clean=True)
            return
        with deferred_signals():
            if not self.still_owned():
                self._undo.clear()
                self.release(clean=False)  # repaired by someone else: nothing here is ours to touch
                return
            clean = self._finish() if self.finishes and isinstance(exc, KeyboardInterrupt) else self.unwind()
        self.release(clean)

    def unwind(self) -> bool:
        """Run the undo steps, newest first; False when one failed (its item stays recorded)."""
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
            outcomes = remove_items(self.host, self.pool, self.intent.record.repair_order)
        except Exception:  # noqa: BLE001 - the record stays: repair finishes it
            return False
        return all(o.result != KEPT for o in outcomes)  # e.g. still in use: the record stays and says so
