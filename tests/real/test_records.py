"""Intent records on a real libvirt pool (a scratch dir pool per test, no VMs): a lock
is never seen without its owner, never blocks forever, never lost to a resumed "dead"
owner, and two repairs never work on one record."""

from __future__ import annotations

import os
import secrets
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from vmctl.errors import Busy, LostLock
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.process import me
from vmctl.ops.safety import intents
from vmctl.ops.safety.claims import claim_numbers, claim_volume
from vmctl.ops.safety.intents import begin, create_record_volume, decode, new_record, read_record, record_volume
from vmctl.ops.safety.operation import Operation
from vmctl.ops.safety.repair import repair, repair_record
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, ensure_dir_pool


@pytest.fixture
def scratch(tmp_path):
    """(host, pool): a dir pool of this test's own, removed afterwards."""
    name = f"t-{os.getpid():x}-{secrets.token_hex(3)}"
    host = Host()
    pool = ensure_dir_pool(host, name, str(tmp_path / "pool"))
    try:
        yield host, pool
    finally:
        raw = host.conn.storagePoolLookupByName(name)
        raw.destroy()
        raw.undefine()
        host.close()


def dead_owner():
    """This machine's pid space, a pid that has finished."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    return replace(me(), pid=gone.pid, start=1)


def dead_record(target: str, *items: tuple[str, str]):
    from vmctl.spec.intent import Item

    record = new_record("create", target)
    return replace(record, owner=dead_owner(), items=tuple(Item(k, n) for k, n in items))


def age(pool: Pool, volume: str, seconds: float) -> None:
    path = Path(pool.path) / volume
    then = time.time() - seconds
    os.utime(path, (then, then))
    pool.refresh()


def test_the_lock_is_made_with_its_owner_and_no_staging_is_left(scratch):
    _host, pool = scratch
    intent = begin(pool, "create", "web1")
    try:
        got = decode(pool.download(record_volume("web1")))
        assert got is not None and got.owner == me() and got.token == intent.record.token
        assert [v for v in pool.volume_names() if "intent-new" in v] == []
        with pytest.raises(Busy, match="busy: create"):
            begin(pool, "delete", "web1", repair=lambda r: pytest.fail("repaired a live lock"))
    finally:
        intent.release()
    assert not pool.has_volume(record_volume("web1"))


def test_an_unreadable_record_blocks_only_while_it_may_be_being_written(scratch):
    """The zero-filled record a SIGKILL left between 'create volume' and 'write owner'
    in vmctl before 1 step records: Busy at first, cleared by itself once abandoned."""
    host, pool = scratch
    pool.create_volume(volume_xml(record_volume("web1"), 16384, "raw"))
    with pytest.raises(Busy, match="unreadable intent record"):
        begin(pool, "create", "web1", repair=lambda r: repair_record(host, pool, r))
    age(pool, record_volume("web1"), intents.TORN_GRACE + 5)
    intent = begin(pool, "create", "web1", repair=lambda r: repair_record(host, pool, r))
    try:
        assert read_record(pool, "web1").token == intent.record.token
    finally:
        intent.release()


def test_repair_reports_and_clears_an_abandoned_unreadable_record(scratch):
    host, pool = scratch
    pool.create_volume(volume_xml(record_volume("web2"), 16384, "raw"))
    age(pool, record_volume("web2"), intents.TORN_GRACE + 5)
    [finding] = repair(host, pool)
    assert (finding.target, finding.state, finding.action, finding.done) == ("web2", "unreadable", "remove record",
                                                                             True)
    assert not pool.has_volume(record_volume("web2"))


def test_an_owner_judged_dead_that_resumes_touches_nothing(scratch):
    """Its record was repaired away and a new owner holds the name: the old one's writes,
    undo and release leave the new owner's record and items alone."""
    host, pool = scratch
    undone = threading.Event()
    with pytest.raises(LostLock):
        with Operation(host, pool, "create", "web3") as op:
            op.on_undo(undone.set)
            pool.delete_volume(record_volume("web3"))  # "repaired" while it stalled ...
            newcomer = new_record("create", "web3")
            create_record_volume(pool, record_volume("web3"), newcomer)  # ... and taken by another
            op.will("volume", "web3-disk.qcow2")
    assert not undone.is_set()
    assert read_record(pool, "web3").token == newcomer.token


def test_an_owner_judged_dead_does_not_release_the_new_owners_lock(scratch):
    _host, pool = scratch
    old = begin(pool, "create", "web4")
    pool.delete_volume(record_volume("web4"))
    newcomer = new_record("create", "web4")
    create_record_volume(pool, record_volume("web4"), newcomer)
    old.release()
    assert read_record(pool, "web4").token == newcomer.token


def test_the_heartbeat_never_drops_an_item(scratch, monkeypatch):
    _host, pool = scratch
    monkeypatch.setattr(intents, "HEARTBEAT_INTERVAL", 0.005)
    intent = begin(pool, "create", "web5")
    try:
        for n in range(40):
            intent.will("volume", f"web5-{n}.qcow2")
        got = read_record(pool, "web5")
        assert [i.name for i in got.items] == [f"web5-{n}.qcow2" for n in range(40)]
        assert got.heartbeat > intent.record.started
    finally:
        intent.release()


def test_two_repairs_of_one_record_do_the_work_once(scratch):
    host, pool = scratch
    pool.create_volume(volume_xml("web6-disk.qcow2", 1 << 20, "raw"))
    record = dead_record("web6", ("volume", "web6-disk.qcow2"))
    create_record_volume(pool, record_volume("web6"), record)
    start, results = threading.Barrier(2), []

    def one() -> None:
        with Host() as own:
            own_pool = ensure_dir_pool(own, pool.name, pool.path)
            start.wait()
            try:
                results.append(repair_record(own, own_pool, record))
            except Busy as exc:
                results.append(exc)
    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    removed = [o for r in results if isinstance(r, list) for o in r if o.result == "removed"]
    assert len(results) == 2 and [o.name for o in removed] == ["web6-disk.qcow2"]
    pool.refresh()
    assert not pool.has_volume(record_volume("web6")) and not pool.has_volume("web6-disk.qcow2")
    assert claim_numbers(pool, "web6") == []


def test_a_repair_killed_while_holding_its_claim_is_taken_over(scratch):
    host, pool = scratch
    pool.create_volume(volume_xml("web7-disk.qcow2", 1 << 20, "raw"))
    record = dead_record("web7", ("volume", "web7-disk.qcow2"))
    create_record_volume(pool, record_volume("web7"), record)
    create_record_volume(pool, claim_volume("web7", 1), replace(new_record("claim", "web7"), owner=dead_owner()))
    [finding] = repair(host, pool)
    assert finding.done and [o.result for o in finding.outcomes] == ["removed"]
    assert claim_numbers(pool, "web7") == [] and not pool.has_volume(record_volume("web7"))


def test_a_live_claim_makes_a_second_repair_wait(scratch):
    host, pool = scratch
    record = dead_record("web8")
    create_record_volume(pool, record_volume("web8"), record)
    create_record_volume(pool, claim_volume("web8", 1), new_record("claim", "web8"))  # ours: alive
    with pytest.raises(Busy, match="being repaired by"):
        repair_record(host, pool, record)
    [finding] = repair(host, pool)
    assert finding.state == "repairing" and not finding.done
    assert pool.has_volume(record_volume("web8"))


def test_staging_volumes_of_dead_writers_are_swept_and_live_ones_kept(scratch):
    host, pool = scratch
    dead, live = dead_record("web9"), new_record("create", "web10")
    for record in (dead, live):
        stage = intents.stage_volume(record.target, record.token)
        pool.create_volume(volume_xml(stage, intents.RECORD_BYTES, "raw"))
        pool.upload(stage, intents.encode(record))
    repair(host, pool)
    names = pool.volume_names()
    assert intents.stage_volume("web9", dead.token) not in names
    assert intents.stage_volume("web10", live.token) in names
