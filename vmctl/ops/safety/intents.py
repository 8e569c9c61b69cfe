"""Intent records as locks, kept where the resources are: a small volume
``TARGET.intent.json`` in vmctl's pool on the libvirt host (reached through the
storage API, so remote hosts work the same way).

- **Taking the lock writes the owner in the same step.** The record is written into a
  staging volume first and libvirt makes ``TARGET.intent.json`` from it in one call
  (``createXMLFrom``): whoever creates it holds the lock, and no one ever sees it
  without its owner, whatever happens to vmctl meanwhile.
- **Updates never tear the record.** The volume holds two copies (slots); each write
  goes to the older slot with the next sequence number, so a write cut short leaves
  the previous copy whole, and readers take the newest whole one.
- **Writes and releases are compare-and-swap.** Each record has a random token: before
  writing or dropping the record, its owner checks the pool still holds *its* record.
  An owner that was judged dead and repaired (then resumed) finds someone else's or
  none, and touches nothing (:class:`LostLock`).
- **A second operation** on the same target fails at once with ``Busy`` naming the
  operation, its owner and since when, unless the owner is dead
  (:mod:`vmctl.policy.liveness`); then the dead operation is finished or undone first
  (:mod:`vmctl.ops.safety.repair`, which claims the record: see :mod:`vmctl.ops.safety.claims`).
- **A record no one can read** (left by libvirtd dying mid-copy, or by vmctl before
  records were written in one step) blocks only while it may still be being written:
  after ``TORN_GRACE`` seconds without a write it is taken as abandoned (it names no
  items, since items are only ever recorded in a readable record).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from vmctl.errors import Busy, Conflict, LostLock, NotFound, OperationFailed, VmctlError
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.process import me, pid_exists, process_start
from vmctl.policy.liveness import HEARTBEAT_INTERVAL, owner_alive
from vmctl.spec.intent import IntentRecord, Item, Owner
from vmctl.spec.volumes import INTENT_SUFFIX, intent_volume, staging_target, staging_volume
from vmctl.virt.storage import Pool

log = logging.getLogger("vmctl")

SUFFIX = INTENT_SUFFIX
SLOT = 16384              # bytes per copy of the record (and its size limit)
RECORD_BYTES = 2 * SLOT   # two copies
TORN_GRACE = 30.0         # seconds an unreadable record may still be one being written
TORN_OP = "torn"          # the op of a stand-in for an unreadable, abandoned record
NOBODY = Owner(machine="", boot="", pid=0, start=0, hostname="unknown", user="unknown")


def record_volume(target: str) -> str:
    return intent_volume(target)


def stage_volume(target: str, token: str) -> str:
    return staging_volume(target, token)


def encode(record: IntentRecord) -> bytes:
    data = record.to_json()
    if len(data) > SLOT:
        raise VmctlError(f"the intent record of {record.target} outgrew {SLOT} bytes")
    return data.ljust(SLOT, b" ")


def decode(raw: bytes) -> IntentRecord | None:
    """The newest whole copy in a record volume; None if no copy can be read. A format-1
    record (one copy, 16 KiB) reads as its first slot."""
    found = []
    for part in (raw[:SLOT], raw[SLOT:2 * SLOT]):
        try:
            found.append(IntentRecord.from_json(part))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            continue
    return max(found, key=lambda r: r.seq) if found else None


def read_volume_record(pool: Pool, volume: str, target: str) -> IntentRecord | None:
    """The record in ``volume``; None if there is no such volume. An unreadable one is Busy
    while it may still be being written, else a stand-in record (op ``torn``) whose owner
    is nobody and long dead."""
    try:
        raw = pool.download(volume) if pool.has_streams else b""
    except NotFound:
        return None
    except OperationFailed as exc:
        if "No such file" not in exc.message:
            raise
        pool.refresh()  # a pool another host shares: this host's libvirt listed a file that is gone
        return None
    if (record := decode(raw)) is not None:
        return record
    try:
        facts = pool.volume(volume)
    except NotFound:
        return None
    if facts.mtime is None or time.time() - facts.mtime < TORN_GRACE:
        raise Busy(f"{target} has an unreadable intent record ({volume} in pool {pool.name})",
                   hint=f"an operation may be starting this very moment; if none is, `vmctl repair {target}` "
                        "removes the record")
    return IntentRecord(op=TORN_OP, target=target, owner=NOBODY, started=facts.mtime, heartbeat=0.0,
                        token=f"torn:{facts.mtime}")


def read_record(pool: Pool, target: str) -> IntentRecord | None:
    """The record for ``target``; None if there is none (see read_volume_record)."""
    return read_volume_record(pool, record_volume(target), target)


def is_alive(record: IntentRecord) -> bool:
    if record.op == TORN_OP:
        return False
    return owner_alive(record.owner, record.heartbeat, me=me(), now=time.time(), process_start=process_start,
                       pid_exists=pid_exists)


def busy_error(record: IntentRecord) -> Busy:
    since = datetime.fromtimestamp(record.started).strftime("%Y-%m-%d %H:%M:%S")
    return Busy(f"{record.target} is busy: {record.op} by {record.owner.describe()} since {since}",
                hint="wait for it to finish, or stop that process (vmctl undoes or finishes its work)")


def create_record_volume(pool: Pool, volume: str, record: IntentRecord) -> None:
    """Make ``volume`` holding ``record`` in one libvirt call (see the module docstring).
    Raises Conflict (or OperationFailed "exists" on a shared pool) when it exists."""
    if not pool.has_streams:  # libvirt's test driver: the volume alone is the lock
        pool.create_volume(volume_xml(volume, RECORD_BYTES, "raw"))
        return
    stage = stage_volume(record.target, record.token)
    pool.create_volume(volume_xml(stage, RECORD_BYTES, "raw"))
    try:
        pool.upload(stage, encode(record))
        pool.clone_volume(volume_xml(volume, RECORD_BYTES, "raw"), stage)
    finally:
        try:
            pool.delete_volume(stage)
        except VmctlError:
            pass  # swept later (sweep_stages): its owner is dead by then


def delete_if_same(pool: Pool, volume: str, target: str, record: IntentRecord) -> bool:
    """Drop ``volume`` if it still holds ``record`` (or a later write of it); False when
    it holds another record (or none). (libvirt's test driver keeps no contents: there
    the volume is dropped.)"""
    if not pool.has_streams:
        try:
            pool.delete_volume(volume)
        except NotFound:
            return False
        return True
    try:
        current = read_volume_record(pool, volume, target)
    except Busy:
        return False
    if current is None or not current.same_record(record):
        return False
    try:
        pool.delete_volume(volume)
    except NotFound:
        return False
    return True


def new_record(op: str, target: str, data: dict[str, str] | None = None) -> IntentRecord:
    now = time.time()
    return IntentRecord(op=op, target=target, owner=me(), started=now, heartbeat=now, data=dict(data or {}),
                        token=secrets.token_hex(8))


class Intent:
    """A running operation: its record (the lock), updated write-ahead as it goes."""

    def __init__(self, pool: Pool, record: IntentRecord, volume: str | None = None) -> None:
        self.pool = pool
        self.record = record
        self._volume = volume or record_volume(record.target)  # another: a repair's claim (ops.safety.claims)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="vmctl-intent-heartbeat", daemon=True)
        self._released = False
        self._streams = pool.has_streams
        self.lost = False  # someone else holds (or removed) the record: we touch nothing more
        self.repaired: list = []  # ItemOutcomes: what a dead owner's repair did before this operation began

    def __enter__(self) -> "Intent":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    @property
    def volume(self) -> str:
        return self._volume

    def will(self, kind: str, name: str, uuid: str = "") -> None:
        """Record, before doing it, that the operation makes (or removes) this item."""
        self._update(lambda r: r.with_item(Item(kind, name, uuid)))

    def note(self, key: str, value: str) -> None:
        self._update(lambda r: replace(r, data={**r.data, key: value}))

    def still_owned(self) -> bool:
        """Whether the pool still holds this operation's record (no one repaired it away)."""
        if self.lost:
            return False
        if not self._streams:
            return self.pool.has_volume(self.volume)
        try:
            current = read_volume_record(self.pool, self.volume, self.record.target)
        except Busy:
            return True  # being written: only its owner writes it
        self.lost = current is None or not current.same_record(self.record)
        return not self.lost

    def release(self) -> None:
        """The operation is over (done, or undone by itself): drop the record, if it is
        still ours."""
        if self._released:
            return
        self._released = True
        self._stop.set()
        with self._lock:
            if not self._streams:
                try:
                    self.pool.delete_volume(self.volume)
                except NotFound:
                    pass
                return
            if not delete_if_same(self.pool, self.volume, self.record.target, self.record):
                self.lost = True
                log.warning("the lock on %s was no longer this process's: left as it was", self.record.target)

    def stop_heartbeat(self) -> None:
        """Stop refreshing the record but keep it (the operation could not clean up)."""
        self._stop.set()
        self._released = True

    def _update(self, change: Callable[[IntentRecord], IntentRecord]) -> None:
        """Write ``change(record)`` to the older slot, if the record is still ours."""
        with self._lock:
            record = change(self.record)
            if not self._streams:
                self.record = record
                return  # libvirt's test driver: the volume alone is the lock
            if not self.still_owned():
                raise LostLock(f"{self.record.target}: this operation's lock was taken over (it was judged dead)",
                               hint=f"nothing more was changed; see `vmctl repair {self.record.target}`")
            record = replace(record, seq=self.record.seq + 1)
            self.pool.upload(self.volume, encode(record), offset=SLOT * (record.seq % 2))
            self.record = record

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_INTERVAL):
            try:
                self._update(lambda r: replace(r, heartbeat=time.time()))
            except LostLock:
                return
            except VmctlError:
                pass  # the connection may be closing; the pid check covers local owners

    def start_heartbeat(self) -> None:
        if self._streams:
            self._beat.start()


def begin(pool: Pool, op: str, target: str, *, repair=None, data: dict[str, str] | None = None) -> Intent:
    """Take the lock on ``target`` for ``op`` and write its record (with ``data``, the
    operation's facts). A dead owner's record is handed to ``repair(record)`` first; a
    live one is Busy."""
    repaired: list = []
    for _ in range(3):
        record = new_record(op, target, data)
        try:
            create_record_volume(pool, record_volume(target), record)
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
        intent.start_heartbeat()
        return intent
    raise Busy(f"{target} is busy: its lock changed hands several times just now", hint="try again")


def list_records(pool: Pool) -> list[tuple[str, IntentRecord | None]]:
    """(target, record or None while it may be being written) for every record in the pool."""
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


def sweep_stages(pool: Pool) -> list[str]:
    """Staging volumes of records whose writer died before it removed them."""
    removed = []
    for name in pool.volume_names():
        if (head := staging_target(name)) is None:
            continue
        try:
            record = read_volume_record(pool, name, head)
        except Busy:
            continue
        if record is None or is_alive(record):
            continue
        try:
            pool.delete_volume(name)
            removed.append(name)
        except NotFound:
            pass
    return removed
