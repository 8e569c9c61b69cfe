"""Intent records as locks, kept where the resources are: a small volume
``TARGET.intent.json`` in vmctl's pool on the libvirt host (reached through the
storage API, so remote hosts work the same way).

Creating that volume is atomic in libvirt: whoever creates it holds the lock.
A second operation on the same target finds it and fails at once with ``Busy``,
naming the operation, its owner and since when, unless the owner is dead
(:mod:`vmctl.policy.liveness`): then the dead operation is finished or undone
first (:mod:`vmctl.ops.repair`) and the new one goes ahead.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime

from vmctl.errors import Busy, Conflict, NotFound, OperationFailed, VmctlError
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.process import me, process_start
from vmctl.policy.liveness import HEARTBEAT_INTERVAL, owner_alive
from vmctl.spec.intent import IntentRecord, Item
from vmctl.spec.volumes import INTENT_SUFFIX, intent_volume
from vmctl.virt.storage import Pool

SUFFIX = INTENT_SUFFIX
RECORD_BYTES = 16384


def record_volume(target: str) -> str:
    return intent_volume(target)


def read_record(pool: Pool, target: str) -> IntentRecord | None:
    """The record for ``target``; None if there is none. Raises Busy for a record that
    exists but cannot be read (being written this instant, or torn)."""
    try:
        raw = pool.download(record_volume(target)) if pool.has_streams else b""
    except NotFound:
        return None
    except OperationFailed as exc:
        if "No such file" not in exc.message:
            raise
        pool.refresh()  # a pool another host shares: this host's libvirt listed a file that is gone
        return None
    if not raw and not pool.has_volume(record_volume(target)):
        return None
    try:
        return IntentRecord.from_json(raw)
    except (ValueError, KeyError, TypeError):
        raise Busy(f"{target} has an unreadable intent record ({record_volume(target)} in pool {pool.name})",
                   hint=f"an operation may be starting this very moment; if none is, `vmctl repair {target}` "
                        "removes the record") from None


def is_alive(record: IntentRecord) -> bool:
    return owner_alive(record.owner, record.heartbeat, me=me(), now=time.time(), process_start=process_start)


def busy_error(record: IntentRecord) -> Busy:
    since = datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
    return Busy(f"{record.target} is busy: {record.op} by {record.owner.describe()} since {since}",
                hint="wait for it to finish, or stop that process (vmctl undoes or finishes its work)")


class Intent:
    """A running operation: its record (the lock), updated write-ahead as it goes."""

    def __init__(self, pool: Pool, record: IntentRecord) -> None:
        self.pool = pool
        self.record = record
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="vmctl-intent-heartbeat", daemon=True)
        self._released = False
        self._streams = pool.has_streams
        self.repaired: list[str] = []  # what was removed for a dead owner before this operation began

    def __enter__(self) -> "Intent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def will(self, kind: str, name: str, uuid: str = "") -> None:
        """Record, before doing it, that the operation makes (or removes) this item."""
        self._write(self.record.with_item(Item(kind, name, uuid)))

    def note(self, key: str, value: str) -> None:
        self._write(replace(self.record, data={**self.record.data, key: value}))

    def release(self) -> None:
        """The operation is over (done, or undone by itself): drop the record."""
        if self._released:
            return
        self._released = True
        self._stop.set()
        with self._lock:
            try:
                self.pool.delete_volume(record_volume(self.record.target))
            except NotFound:
                pass

    def stop_heartbeat(self) -> None:
        """Stop refreshing the record but keep it (the operation could not clean up)."""
        self._stop.set()
        self._released = True

    def _write(self, record: IntentRecord) -> None:
        with self._lock:
            self.record = record
            if not self._streams:
                return  # libvirt's test driver: the volume alone is the lock
            data = record.to_json()
            if len(data) > RECORD_BYTES:
                raise VmctlError(f"the intent record of {record.target} outgrew {RECORD_BYTES} bytes")
            self.pool.upload(record_volume(record.target), data.ljust(RECORD_BYTES, b" "))

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                self._write(replace(self.record, heartbeat=time.time()))
            except VmctlError:
                pass  # the connection may be closing; the pid check covers local owners

    def start_heartbeat(self) -> None:
        if self._streams:
            self._beat.start()


def begin(pool: Pool, op: str, target: str, *, repair=None, data: dict[str, str] | None = None) -> Intent:
    """Take the lock on ``target`` for ``op`` and write its record (with ``data``, the
    operation's facts). A dead owner's record is handed to ``repair(record)`` first; a
    live one is Busy."""
    repaired: list[str] = []
    for _ in range(3):
        now = time.time()
        record = IntentRecord(op=op, target=target, owner=me(), started=now, heartbeat=now, data=dict(data or {}))
        try:
            pool.create_volume(volume_xml(record_volume(target), RECORD_BYTES, "raw"))
        except OperationFailed as exc:
            if "exists" not in exc.message:
                raise
            pool.refresh()  # a pool another host shares: the file is there, this host's libvirt did not know
            continue
        except Conflict:
            existing = read_record(pool, target)
            if existing is None:
                continue  # released meanwhile
            if is_alive(existing) or repair is None:
                raise busy_error(existing) from None
            repaired += repair(existing) or []
            continue
        intent = Intent(pool, record)
        intent.repaired = repaired
        try:
            intent._write(record)
        except BaseException:
            intent.release()
            raise
        intent.start_heartbeat()
        return intent
    raise Busy(f"{target} is busy: its lock changed hands several times just now", hint="try again")


def list_records(pool: Pool) -> list[tuple[str, IntentRecord | None]]:
    """(target, record or None when unreadable) for every record in the pool."""
    found: list[tuple[str, IntentRecord | None]] = []
    for name in pool.volume_names():
        if name.endswith(SUFFIX):
            target = name[: -len(SUFFIX)]
            try:
                record = read_record(pool, target)
            except Busy:
                found.append((target, None))
                continue
            if record is not None:  # else: released between the listing and the read
                found.append((target, record))
    return found
