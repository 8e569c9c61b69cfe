"""The test harness's run marker: who owns what, decided without guessing from names."""

from __future__ import annotations

import os
import subprocess

import pytest

from vmctl.spec.names import check_labels
from vmctl.testing.marker import OWNER_KEY, RUN_KEY, RunJournal, RunMarker, belongs, owner_of, owner_state


def test_this_process_is_alive_and_its_marker_is_valid_labels():
    marker = RunMarker.new()
    assert owner_state(marker.owner) == "alive"
    assert marker.run.startswith(f"{os.getpid():x}-")
    assert dict(check_labels(marker.labels)) == {RUN_KEY: marker.run, OWNER_KEY: marker.owner}
    assert marker.environment().split() == [f"{RUN_KEY}={marker.run}", f"{OWNER_KEY}={marker.owner}"]


def test_an_ended_process_is_dead():
    proc = subprocess.Popen(["sleep", "30"])
    owner = owner_of(proc.pid)
    assert owner_state(owner) == "alive"
    proc.kill()
    proc.wait()
    assert owner_state(owner) == "dead"


def test_a_reused_pid_is_not_the_owner():
    machine, boot, pidns, pid, start = owner_of(os.getpid()).split(".")
    assert owner_state(".".join([machine, boot, pidns, pid, str(int(start) + 1)])) == "dead"


def test_another_boot_of_this_machine_is_dead():
    machine, _boot, pidns, pid, start = owner_of(os.getpid()).split(".")
    assert owner_state(".".join([machine, "00000000", pidns, pid, start])) == "dead"


@pytest.mark.parametrize("owner", [
    "", "t-1234", "1.2.3", "a.b.c.d.e",
    "000000000000.00000000.1.1.1",  # another machine: nothing here can tell
])
def test_what_cannot_be_judged_is_unknown_never_dead(owner):
    assert owner_state(owner) == "unknown"


def test_another_pid_namespace_is_unknown():
    machine, boot, _pidns, pid, start = owner_of(os.getpid()).split(".")
    assert owner_state(".".join([machine, boot, "1", pid, start])) == "unknown"


@pytest.mark.parametrize("name,yes", [
    ("t-1-abc", True), ("t-1-abc-vda.qcow2", True), ("t-1-abc.intent.json", True), ("image:t-1-abc-img", True),
    ("t-1-abcd", False), ("t-1-ab", False), ("t-web-1", False), ("tiny", False),
])
def test_belongs_to_journaled_names(name, yes):
    assert belongs(name, ["t-1-abc"]) is yes


def test_the_journal_holds_the_owner_then_every_name(tmp_path):
    marker = RunMarker.new()
    journal = RunJournal(tmp_path / "runs", marker)
    journal.record("t-1-abc")
    journal.record("t-1-def")
    assert journal.path.read_text().split() == [marker.owner, "t-1-abc", "t-1-def"]
    assert journal.names == ["t-1-abc", "t-1-def"]


def test_only_test_labs_whose_owner_is_provably_gone_are_taken_down(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from vmctl.testing.lab import testlab
    from vmctl.testing.lab.cluster import TEST_OWNER

    proc = subprocess.Popen(["sleep", "30"])
    gone = owner_of(proc.pid)
    proc.kill()
    proc.wait()
    owners = {"vmctl-lab-t1-dead": gone, "vmctl-lab-t2-mine": owner_of(os.getpid()),
              "vmctl-lab-t3-elsewhere": "000000000000.00000000.1.1.1", "vmctl-lab-t4-unmarked": None}
    for name, owner in owners.items():
        (tmp_path / name).mkdir()
        if owner is not None:
            (tmp_path / name / TEST_OWNER).write_text(owner + "\n")
    downs: list[str] = []
    monkeypatch.setattr(testlab, "BASE", tmp_path)
    monkeypatch.setattr(testlab, "Lab", lambda root: SimpleNamespace(down=lambda: downs.append(root.name)))
    assert testlab.remove_dead_test_labs() == [str(tmp_path / "vmctl-lab-t1-dead")]
    assert downs == ["vmctl-lab-t1-dead"]
