"""Group snapshots under faults, on two real tiny guests (booted once for the module):
vmctl SIGKILLed while the members are paused for a group snapshot or a group revert,
and one member's revert failing halfway. Afterwards no member is left paused, no
half-taken snapshot is left, and no intent record stays behind."""

from __future__ import annotations

import json
import os
import signal
import secrets
import subprocess
import sys
from collections.abc import Iterator

import pytest

from vmctl.api import Vmctl
from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains, snapshots

VMCTL = [sys.executable, "-m", "vmctl"]


def new_vm_name() -> str:  # as tests/real/conftest.py names them (a leftover of a dead run is removed)
    return f"t-{os.getpid():x}-{secrets.token_hex(3)}"


def vmctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def pair(api: Vmctl, tiny) -> Iterator[tuple[str, str]]:
    first = new_vm_name()
    second = f"{first}-2"
    try:
        for name in (first, second):
            api.create(name, memory="256M", wait_boot=True)
        yield first, second
    finally:
        for name in (first, second):
            if domains.exists(api.host, name):
                api.delete(name)


def states(api: Vmctl, names: tuple[str, str]) -> dict[str, tuple[str, str | None]]:
    """Each member's state and, when paused, why."""
    doms = {n: domains.lookup(api.host, n) for n in names}
    return {n: (d.state(), d.pause_reason()) for n, d in doms.items()}


def snaps(api: Vmctl, name: str) -> dict[str, bool]:
    """Snapshot name -> complete."""
    return {s.name: s.complete for s in api.snapshot_list(name)}


def records(api: Vmctl, names: tuple[str, str]) -> list[str]:
    api.pool.refresh()
    return sorted(v for v in api.pool.volume_names() if v in {f"{n}.intent.json" for n in names})


RUNNING = ("running", None)


@pytest.mark.parametrize("point", ["snapshot-create:taken", "group-snapshot:taken"])
def test_sigkill_during_a_group_snapshot(api, pair, tmp_path, point):
    """Killed while every member is paused, after the first member's snapshot
    (snapshot-create:taken) or after every member's (group-snapshot:taken, notes not
    yet written): repair resumes every member and removes every snapshot of the group."""
    first, second = pair
    label = f"k{'1' if point.startswith('snapshot') else '2'}"
    held = PausedVmctl(["snapshot", "create", "--group", label, first, second], point, tmp_path)
    try:
        assert states(api, pair) == {first: ("paused", "user"), second: ("paused", "user")}
    finally:
        held.kill()  # SIGKILL
    assert snaps(api, first).get(label) is False  # taken, incomplete: its record names it
    assert records(api, pair) == sorted(f"{n}.intent.json" for n in pair)
    if point == "snapshot-create:taken":
        assert label not in snaps(api, second)
        done = {}
        for name in pair:  # `vmctl repair NAME` (all of them: `vmctl repair`)
            repaired = vmctl("repair", name, "--json")
            assert repaired.returncode == 0, repaired.stderr
            done[name] = [f["items"] for f in json.loads(repaired.stdout)["findings"]]
        # the half-taken snapshot is removed first (newest first), then the member resumed
        assert done == {first: [[f"snapshot {first}/{label}", f"paused {first}"]], second: [[f"paused {second}"]]}
        assert states(api, pair) == {first: RUNNING, second: RUNNING}
        assert label not in snaps(api, first) and label not in snaps(api, second)
    else:
        assert snaps(api, second).get(label) is False
        # the next operation on the members (the same group snapshot again) repairs first, then works
        again = vmctl("snapshot", "create", "--group", label, first, second)
        assert again.returncode == 0, again.stderr
        assert states(api, pair) == {first: RUNNING, second: RUNNING}
        assert snaps(api, first)[label] is True and snaps(api, second)[label] is True
        assert sorted(s.vm for s in api.snapshot_group_list(label)) == sorted(pair)
        for name in pair:
            api.snapshot_delete(name, label)
    assert records(api, pair) == []


def test_sigterm_during_a_group_snapshot_undoes_it_at_once(api, pair, tmp_path):
    first, second = pair
    held = PausedVmctl(["snapshot", "create", "--group", "t1", first, second], "group-snapshot:taken", tmp_path)
    try:
        code, _seconds, err = held.stop(signal.SIGTERM)
    finally:
        held.kill()
    assert code == 143 and "interrupted" in err and "Traceback" not in err, err
    assert states(api, pair) == {first: RUNNING, second: RUNNING}
    assert "t1" not in snaps(api, first) and "t1" not in snaps(api, second)
    assert records(api, pair) == []


def test_sigkill_during_a_group_revert(api, pair, tmp_path):
    first, second = pair
    api.snapshot_group_create("r1", list(pair))
    held = PausedVmctl(["snapshot", "revert", "--group", "r1"], "group-revert:reverted", tmp_path)
    try:
        paused = states(api, pair)
        assert {state for state, _why in paused.values()} == {"paused"}, paused
    finally:
        held.kill()  # SIGKILL
    assert records(api, pair) == sorted(f"{n}.intent.json" for n in pair)
    # the next operation on a member repairs its record first (resumes it); repair does the rest
    deleted = vmctl("snapshot", "delete", first, "r1")
    assert deleted.returncode == 0, deleted.stderr
    assert states(api, pair)[first] == RUNNING
    repaired = vmctl("repair", second)
    assert repaired.returncode == 0, repaired.stderr
    assert states(api, pair) == {first: RUNNING, second: RUNNING}
    assert records(api, pair) == []
    api.snapshot_delete(second, "r1")


def test_a_member_revert_that_fails_leaves_no_member_paused(api, pair, tmp_path):
    """The second member's snapshot is deleted (behind vmctl's back, as with virsh) while
    the group revert reverts the first: the first stays reverted and runs again, the
    second runs on untouched, and the error says so."""
    first, second = pair
    api.snapshot_group_create("f1", list(pair))
    held = PausedVmctl(["snapshot", "revert", "--group", "f1"], "snapshot-revert:checked", tmp_path)
    try:
        snapshots.delete(domains.lookup(api.host, second), "f1")
    finally:
        done = held.resume()
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert f"{second} has no snapshot named 'f1'" in done.stderr
    assert f"{first} reverted" in done.stderr
    assert f"members now: {first} running, {second} running" in done.stderr
    assert states(api, pair) == {first: RUNNING, second: RUNNING}
    assert records(api, pair) == []
    # a group that lost a member's snapshot is refused up front, naming it; nothing changes
    refused = vmctl("snapshot", "revert", "--group", "f1")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert f"{second} has no snapshot 'f1' any more" in refused.stderr, refused.stderr
    assert states(api, pair) == {first: RUNNING, second: RUNNING}
    api.snapshot_delete(first, "f1")
