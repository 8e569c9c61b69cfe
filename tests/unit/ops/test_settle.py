"""Settling a dead migration (ops/settle.py) against fake hosts: roles by host UUID,
post-copy recorded (no real post-copy here: this machine's kernel lacks userfaultfd),
idempotence, and a record's peer URI never used unless trusted."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from vmctl.errors import Conflict, NotFound, OperationFailed
from vmctl.ops import settle as st
from vmctl.spec.intent import IntentRecord, Owner
from vmctl.spec.migration_record import HostRef, MigrationSpec
from vmctl.virt.domains import DomainRecord

A_URI, B_URI = "qemu+ssh://root@a/system", "qemu+ssh://root@b/system"


@dataclass
class FakeDom:
    name: str
    uuid: str
    state_: str
    persistent: bool = True
    log: list = field(default_factory=list)

    def state(self):
        return self.state_

    def destroy(self):
        self.log.append("destroy")
        self.state_ = "shut-off"

    def undefine(self):
        self.log.append("undefine")
        self.persistent = False

    def resume(self):
        self.log.append("resume")
        self.state_ = "running"

    def xml(self, inactive=False):
        return "<domain/>"


class FakeHost:
    def __init__(self, uri, uuid, doms=()):
        self.uri, self.uuid, self.doms = uri, uuid, {d.name: d for d in doms}
        self.closed = False

    def close(self):
        self.closed = True

    def present(self):
        return {n: d for n, d in self.doms.items() if d.persistent or d.state_ != "shut-off"}


class FakePool:
    name = "shared"

    def __init__(self):
        self.deleted = []

    def delete_volume(self, name):
        self.deleted.append(name)


@pytest.fixture
def world(monkeypatch):
    hosts: dict[str, FakeHost] = {}
    connects: list[str] = []

    def list_all(host):
        return [DomainRecord(d.name, d.uuid, d.state_, d.persistent, "") for d in host.present().values()]

    def lookup(host, name):
        if name not in host.present():
            raise NotFound(name)
        return host.doms[name]

    def define(host, xml):
        for d in host.doms.values():
            d.persistent = True
            d.log.append("define")

    def connect(uri):
        connects.append(uri)
        return hosts[uri]
    monkeypatch.setattr(st.domains, "list_all", list_all)
    monkeypatch.setattr(st.domains, "lookup", lookup)
    monkeypatch.setattr(st.domains, "define", define)
    monkeypatch.setattr(st.vmig, "wait_for_no_job", lambda dom, timeout, abort_after: True)
    monkeypatch.setattr(st.vmig, "host_uuid", lambda host: host.uuid)
    monkeypatch.setattr(st, "Host", connect)
    monkeypatch.setattr(st, "find_pool", lambda host, name: FakePool())
    monkeypatch.setattr(st, "known_host_uris", lambda: [A_URI, B_URI])
    monkeypatch.setattr(st, "read_record", lambda pool, name: None)
    return hosts, connects


def spec(**changes) -> MigrationSpec:
    base = MigrationSpec(uuid="d0", source=HostRef("u-b", B_URI), destination=HostRef("u-a", A_URI), pool="shared",
                         live=True, storage="shared")
    return base.with_note(**changes)


def record(s: MigrationSpec) -> IntentRecord:
    return IntentRecord("migrate", "mk", Owner("m", "b", 1, 1, "h", "root"), 1.0, 1.0, data=s.to_data())


def test_repair_on_the_destination_keeps_the_guest_there(world):
    """The issue's case: `-c B migrate mk A` killed after the transfer, repair on A (the
    destination, reading the one shared record): mk stays on A, running and defined."""
    hosts, connects = world
    on_a = FakeDom("mk", "d0", "running")
    hosts[A_URI], hosts[B_URI] = FakeHost(A_URI, "u-a", [on_a]), FakeHost(B_URI, "u-b")
    pool = FakePool()
    done = st.repair_migration(hosts[A_URI], pool, record(spec()))
    assert done[0].startswith("keep mk on the destination")
    assert on_a.log == [] and on_a.state_ == "running" and on_a.persistent
    assert connects == [B_URI] and pool.deleted == []  # its own record: dropped by repair_record (it holds the claim)
    # a second settle (the other host's repair) finds nothing to do
    again = st.repair_migration(hosts[B_URI], pool, record(spec()))
    assert again == [done[0]] and on_a.log == []


def test_postcopy_recorded_destination_kept_source_not_resumed(world):
    hosts, _ = world
    src, dest = FakeDom("mk", "d0", "paused"), FakeDom("mk", "d0", "running", persistent=False)
    hosts[A_URI], hosts[B_URI] = FakeHost(A_URI, "u-a", [dest]), FakeHost(B_URI, "u-b", [src])
    done = st.repair_migration(hosts[B_URI], FakePool(), record(spec(postcopy=True)))
    assert done[0].startswith("keep mk on the destination (post-copy")
    assert dest.log == ["define"] and dest.state_ == "running"
    assert "resume" not in src.log and src.log == ["destroy", "undefine"]


def test_postcopy_recorded_destination_not_running_changes_nothing(world):
    hosts, _ = world
    src, dest = FakeDom("mk", "d0", "paused"), FakeDom("mk", "d0", "paused", persistent=False)
    hosts[A_URI], hosts[B_URI] = FakeHost(A_URI, "u-a", [dest]), FakeHost(B_URI, "u-b", [src])
    pool = FakePool()
    for here in (A_URI, B_URI):
        with pytest.raises(OperationFailed) as exc:
            st.repair_migration(hosts[here], pool, record(spec(postcopy=True)))
        assert "post-copy" in exc.value.message and "the record stays" in exc.value.hint
    assert src.log == [] and dest.log == [] and pool.deleted == []
    # the same state without post-copy recorded: the source would be resumed, the destination removed
    st.repair_migration(hosts[B_URI], pool, record(spec()))
    assert src.log == ["resume"] and dest.log == ["destroy"]


def test_settle_of_a_failed_migration_after_postcopy_keeps_the_destination(world):
    """The migration's own failure path (ops/migrate.py _settle_failure) uses the same settle."""
    hosts, _ = world
    src, dest = FakeDom("mk", "d0", "paused"), FakeDom("mk", "d0", "running", persistent=False)
    a, b = FakeHost(A_URI, "u-a", [dest]), FakeHost(B_URI, "u-b", [src])
    settled = st.settle_migration(b, a, "mk", spec(postcopy=True), src_pool=None, dest_pool=None)
    assert settled.keep == "destination" and "resume" not in src.log and "destroy" not in dest.log


def test_unknown_host_or_peer_changes_nothing(world):
    hosts, connects = world
    dom = FakeDom("mk", "d0", "running")
    hosts[A_URI], hosts[B_URI] = FakeHost(A_URI, "u-a", [dom]), FakeHost(B_URI, "u-x")
    pool = FakePool()
    stranger = FakeHost("qemu:///c", "u-c", [dom])
    with pytest.raises(Conflict, match="neither the source's"):
        st.repair_migration(stranger, pool, record(spec()))
    with pytest.raises(Conflict, match="is not the source"):  # B answers with another host UUID
        st.repair_migration(hosts[A_URI], pool, record(spec()))
    forged = spec(source=HostRef("u-b", "qemu+ssh://root@127.0.0.1/system?command=/tmp/x.sh"))
    with pytest.raises(Conflict) as exc:
        st.repair_migration(hosts[A_URI], pool, record(forged))
    assert "--peer" in exc.value.hint
    legacy = IntentRecord("migrate", "mk", Owner("m", "b", 1, 1, "h", "root"), 1.0, 1.0,
                          data={"peer": A_URI, "role": "source", "uuid": "d0"})
    with pytest.raises(Conflict, match="older vmctl"):
        st.repair_migration(hosts[A_URI], pool, legacy)
    assert connects == [B_URI] and dom.log == [] and pool.deleted == []


def test_explicit_peer_is_used_and_checked(world):
    hosts, connects = world
    dom = FakeDom("mk", "d0", "running")
    hosts[A_URI], hosts["qemu:///b-other"] = FakeHost(A_URI, "u-a", [dom]), FakeHost("qemu:///b-other", "u-b")
    forged = spec(source=HostRef("u-b", "qemu+ssh://root@127.0.0.1/system?command=/tmp/x.sh"))
    with st.peers_given("qemu:///b-other"):
        done = st.repair_migration(hosts[A_URI], FakePool(), record(forged))
    assert connects == ["qemu:///b-other"] and done[0].startswith("keep mk on the destination")


def test_copies_another_domain_uses_are_kept(monkeypatch):
    """Clean-up of a migration's volume copies never removes one a domain on that host uses."""
    import vmctl.ops.delete as delete

    class Pool(FakePool):
        def refresh(self):
            pass

        def has_volume(self, name):
            return name in ("mk-vda.qcow2", "mk-cidata.iso")
    monkeypatch.setattr(delete, "users_of", lambda host, pool, volumes, besides: {"mk-vda.qcow2": ["VM other"]})
    pool = Pool()
    removed, kept = st.remove_unused_volumes(object(), pool, ["mk-vda.qcow2", "mk-cidata.iso", "gone.qcow2"])
    assert removed == ["mk-cidata.iso"] and pool.deleted == ["mk-cidata.iso"]
    assert kept == {"mk-vda.qcow2": "used by VM other"}
