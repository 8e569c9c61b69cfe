"""Roles in a recorded migration by host UUID (never by position), the settlement once
post-copy was recorded, and which peer URI a repair may use."""

import pytest

from vmctl.errors import Conflict
from vmctl.policy.migration import Side, role_of, settle
from vmctl.policy.peers import choose_peer, runs_programs
from vmctl.spec.migration_record import HostRef, MigrationSpec

A, B = "qemu+ssh://root@10.0.0.1/system", "qemu+ssh://root@10.0.0.2/system"


def spec(src_uuid: str = "u-b", dest_uuid: str = "u-a") -> MigrationSpec:
    return MigrationSpec(uuid="d0", source=HostRef(src_uuid, B), destination=HostRef(dest_uuid, A), pool="shared",
                         live=True, storage="shared")


def test_role_is_the_host_uuid_that_matches():
    assert role_of(spec(), "u-b") == "source"
    assert role_of(spec(), "u-a") == "destination"  # the case: repair run on the destination


@pytest.mark.parametrize("record,here,text", [
    (spec(), "", "no host UUID"),
    (spec(), "u-c", "neither the source's"),
    (spec("u-a", "u-a"), "u-a", "as both source and destination"),
])
def test_role_unknown_is_refused(record, here, text):
    with pytest.raises(Conflict) as exc:
        role_of(record, here, name="mk")
    assert text in exc.value.message and "nothing was changed" in exc.value.hint


RUNNING, PAUSED = Side(True, "running", True), Side(True, "paused", True)


@pytest.mark.parametrize("source", [Side(False), PAUSED, Side(True, "shut-off", False)])
def test_postcopy_recorded_keeps_a_running_destination(source):
    plan = settle(source, Side(True, "running", False), live=True, postcopy=True)
    assert plan.keep == "destination" and plan.persist and not plan.resume and not plan.wait


@pytest.mark.parametrize("dest", [Side(False), PAUSED, Side(True, "shut-off", False)])
def test_postcopy_recorded_never_resumes_the_source(dest):
    """Without post-copy a paused source would be resumed and the destination removed;
    after the switch the source's memory is stale: nothing is touched."""
    assert settle(PAUSED, dest, live=True).keep == "source"
    plan = settle(PAUSED, dest, live=True, postcopy=True)
    assert plan.keep == "none" and plan.wait and not plan.resume and not plan.remove_other


def test_peer_given_or_known_only():
    evil = "qemu+ssh://root@127.0.0.1/system?command=/tmp/x.sh"
    lab = "qemu+ssh://root@10.0.0.2/system?keyfile=/k&command=/var/lib/vmctl-lab/state/ssh"
    assert choose_peer(B, explicit=None, given=[], known=[B], name="mk") == B
    assert choose_peer(lab, explicit=None, given=[], known=[lab], name="mk") == lab  # identical: fine
    assert choose_peer(evil, explicit="qemu:///x", given=[], known=[], name="mk") == "qemu:///x"  # --peer
    # the same place as a known host: the known URI is used, never the recorded one
    assert choose_peer("qemu+ssh://root@10.0.0.2/system?no_tty=1", explicit=None, given=[], known=[lab],
                       name="mk") == lab
    for recorded, known in [(evil, []), (evil, [A]), ("qemu+ssh://root@127.0.0.1/system?command=/tmp/x.sh",
                                                       ["qemu+ssh://root@127.0.0.1/system"]),
                            (lab.replace("/var/lib/vmctl-lab/state/ssh", "/tmp/x.sh"), [lab]), (B, [A])]:
        with pytest.raises(Conflict) as exc:
            choose_peer(recorded, explicit=None, given=[], known=known, name="mk")
        assert "--peer" in exc.value.hint and "nothing was changed" in exc.value.hint


@pytest.mark.parametrize("uri,runs", [
    ("qemu+ssh://h/system?netcat=/x", True), ("qemu+ssh://h/system?socket=/x", True),
    ("qemu+ext:///system?command=/x", True), ("qemu+ssh://h/system?keyfile=/k&no_tty=1", False),
])
def test_runs_programs(uri, runs):
    assert runs_programs(uri) is runs
