"""Group snapshot and revert against libvirt's test driver: every member checked before
anything changes, every pause recorded before it happens and undone whatever fails,
and repair of a dead group operation resuming the members vmctl paused (and only those)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.ops.templates import builtin_dir
from vmctl.spec.domain import Accel, DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.errors import Conflict, Interrupted, NotFound, OperationFailed
from vmctl.ops import groups
from vmctl.ops.safety.intents import Intent
from vmctl.ops.pool import PoolRef
from vmctl.ops.safety.repair import repair_record
from vmctl.ops.snapshots import notes_of
from vmctl.ops.vms import Vms
from vmctl.local.process import me
from vmctl.spec.intent import IntentRecord, Item
from vmctl.virt import domains, snapshots
from vmctl.virt.host import Host

NODE = """<node>
  <pool type="dir"><name>vmctl</name><target><path>/vmctl-pool</path></target></pool>
</node>"""


def define(vms: Vms, name: str) -> None:
    """A VM as vmctl defines it (as in test_vms.py), on a qcow2 volume of the pool."""
    pool = vms.pools.ensure()
    pool.create_volume(volume_xml(f"{name}-vda.qcow2", 1 << 30, "qcow2", backing_path="/vmctl-pool/tiny.base.qcow2"))
    spec = DomainSpec(
        name=name, accel=Accel.TCG, disks=(DiskSpec(f"/vmctl-pool/{name}-vda.qcow2"),),
        nics=(NicSpec(ssh_port=10100),), boot=DirectBoot("/k", "/i", "console=ttyS0"),
        meta=VmMeta(image="tiny", template="linux-direct", accel_reason="test", ssh_port=10100),
    )
    domains.define(vms.host, render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), spec))


@pytest.fixture
def env(tmp_path: Path):
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    with Host(f"test://{node}") as host:
        vms = Vms(host, PoolRef(host, "vmctl", "/vmctl-pool"))
        for name in ("a", "b"):
            define(vms, name)
            domains.lookup(host, name).start()
        yield host, vms.pools.ensure()


def state(host: Host) -> dict[str, str]:
    return {n: domains.lookup(host, n).state() for n in ("a", "b")}


def snaps(host: Host, name: str) -> list[str]:
    return [s.rsplit("<name>", 1)[1].split("<", 1)[0] for s in snapshots.list_xml(domains.lookup(host, name))]


def no_records(pool) -> bool:
    pool.refresh()
    return not [v for v in pool.volume_names() if v.endswith(".intent.json")]


@pytest.fixture
def journal(monkeypatch):
    """What happened, in order: write-ahead items, suspends, resumes."""
    log: list[tuple[str, str]] = []
    will, suspend, resume = Intent.will, snapshots.suspend, domains.Domain.resume

    def will_spy(self, kind, name, uuid=""):
        log.append((f"will {kind}", name))
        return will(self, kind, name, uuid)

    def suspend_spy(dom):
        log.append(("suspend", dom.name))
        return suspend(dom)

    def resume_spy(dom):
        log.append(("resume", dom.name))
        return resume(dom)
    monkeypatch.setattr(Intent, "will", will_spy)
    monkeypatch.setattr(snapshots, "suspend", suspend_spy)
    monkeypatch.setattr(domains.Domain, "resume", resume_spy)
    return log


def test_each_pause_is_recorded_before_it_happens_and_undone(env, journal):
    host, pool = env
    taken = groups.create_group(host, pool, "g1", ["b", "a"])
    assert [(s.vm, s.group, s.complete) for s in taken] == [("a", "g1", True), ("b", "g1", True)]
    assert journal == [("will paused", "a"), ("suspend", "a"), ("will paused", "b"), ("suspend", "b"),
                       ("will snapshot", "a/g1"), ("will snapshot", "b/g1"), ("resume", "a"), ("resume", "b")]
    assert state(host) == {"a": "running", "b": "running"} and no_records(pool)
    journal.clear()
    assert groups.revert_group(host, pool, "g1") == {"a": "g1", "b": "g1"}
    assert journal == [("will paused", "a"), ("will paused", "b"), ("resume", "a"), ("resume", "b")]
    assert state(host) == {"a": "running", "b": "running"} and no_records(pool)


def test_create_refuses_before_pausing_any_member(env, journal):
    host, pool = env
    snapshots.create(domains.lookup(host, "b"), "<domainsnapshot><name>g1</name></domainsnapshot>")
    with pytest.raises(Conflict, match="b already has a snapshot named 'g1'"):
        groups.create_group(host, pool, "g1", ["a", "b"])
    with pytest.raises(NotFound, match="no VM named 'c'"):
        groups.create_group(host, pool, "g2", ["a", "c"])
    assert journal == [] and snaps(host, "a") == [] and state(host) == {"a": "running", "b": "running"}
    assert no_records(pool)


def test_create_failing_on_one_member_keeps_nothing_and_resumes_all(env, monkeypatch):
    host, pool = env
    real = groups.create_snapshot

    def fails_on_b(host, pool, name, *args, **kwargs):
        if name == "b":
            raise OperationFailed("snapshot b: no space left on device", hint="free some space")
        return real(host, pool, name, *args, **kwargs)
    monkeypatch.setattr(groups, "create_snapshot", fails_on_b)
    with pytest.raises(OperationFailed) as exc:
        groups.create_group(host, pool, "g1", ["a", "b"])
    assert exc.value.message == ("snapshot b: no space left on device; group snapshot g1 not taken; "
                                 "members now: a running, b running")
    assert snaps(host, "a") == [] and state(host) == {"a": "running", "b": "running"} and no_records(pool)


def test_a_signal_while_members_are_paused_resumes_them(env, monkeypatch):
    host, pool = env

    def sigterm_at(point):
        if point == "group-snapshot:taken":
            raise Interrupted(15)
    monkeypatch.setattr(groups, "checkpoint", sigterm_at)
    with pytest.raises(Interrupted):
        groups.create_group(host, pool, "g1", ["a", "b"])
    assert snaps(host, "a") == [] and snaps(host, "b") == []
    assert state(host) == {"a": "running", "b": "running"} and no_records(pool)


def test_revert_refuses_an_incomplete_group_before_reverting_any(env, journal):
    host, pool = env
    groups.create_group(host, pool, "g1", ["a", "b"])
    domains.lookup(host, "a").destroy()  # reverting would start it again
    snapshots.delete(domains.lookup(host, "b"), "g1")  # behind vmctl's back (virsh)
    journal.clear()
    with pytest.raises(NotFound, match="b has no snapshot 'g1' any more .*no member was reverted"):
        groups.revert_group(host, pool, "g1")
    assert journal == [] and state(host) == {"a": "shut-off", "b": "running"} and no_records(pool)


def test_a_failed_member_revert_leaves_the_others_reverted_and_running(env, monkeypatch):
    host, pool = env
    groups.create_group(host, pool, "g1", ["a", "b"])
    real = groups.revert_unlocked

    def fails_on_b(host, dom, snap, *, state=""):
        if dom.name == "b":
            raise OperationFailed("revert b to snapshot g1: internal error", hint="see the libvirt log")
        return real(host, dom, snap, state=state)
    monkeypatch.setattr(groups, "revert_unlocked", fails_on_b)
    with pytest.raises(OperationFailed) as exc:
        groups.revert_group(host, pool, "g1")
    assert exc.value.message == ("revert b to snapshot g1: internal error; group revert g1 stopped (a reverted); "
                                 "members now: a running, b running")
    assert state(host) == {"a": "running", "b": "running"} and no_records(pool)


def done(outcomes) -> list[str]:
    """What a repair did (items it found already gone or not its own left out)."""
    return [o.describe() for o in outcomes if o.result in ("removed", "resumed")]


def dead_record(host: Host, op: str, target: str, *items: Item) -> IntentRecord:
    return IntentRecord(op=op, target=target, owner=me(), started=0.0, heartbeat=0.0, items=items)


def test_repair_removes_a_half_taken_snapshot_then_resumes(env, journal):
    host, pool = env
    a = domains.lookup(host, "a")
    snapshots.suspend(a)
    snapshots.create(a, "<domainsnapshot><name>g1</name></domainsnapshot>")  # never noted: half-taken
    journal.clear()
    record = dead_record(host, "snapshot-create", "a", Item("paused", "a", a.uuid), Item("snapshot", "a/g1"))
    assert done(repair_record(host, pool, record)) == ["snapshot a/g1", "paused a"]  # newest first
    assert journal == [("resume", "a")] and snaps(host, "a") == [] and state(host)["a"] == "running"


def test_repair_resumes_only_the_domain_vmctl_paused(env):
    host, pool = env
    a, b = domains.lookup(host, "a"), domains.lookup(host, "b")
    snapshots.suspend(a)
    record = dead_record(host, "snapshot-revert", "a", Item("paused", "a", b.uuid))  # a same-named other domain
    assert done(repair_record(host, pool, record)) == [] and a.state() == "paused"
    a.resume()
    record = dead_record(host, "snapshot-revert", "a", Item("paused", "a", a.uuid))  # not paused any more
    assert done(repair_record(host, pool, record)) == [] and a.state() == "running"
    assert "g1" not in notes_of(a)
