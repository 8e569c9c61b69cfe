"""Migration decisions, replayed against job statistics recorded from real migrations
in the lab (tests/data/migration/*.ndjson: `vmctl migrate --json` progress events)."""

import json
from dataclasses import fields
from pathlib import Path

import pytest

from vmctl.policy.migration import (
    Action, MonitorSettings, MonitorState, Side, completion_timeout, downtime_steps, next_actions, settings_for,
    settle,
)
from vmctl.spec.migration import JobStats

DATA = Path(__file__).resolve().parents[2] / "data" / "migration"
STAT_FIELDS = {f.name for f in fields(JobStats)}


def recording(name: str) -> list[tuple[float, JobStats]]:
    """(seconds since the transfer began, sample) for each progress event."""
    samples, begun = [], None
    for line in (DATA / name).read_text().splitlines()[1:]:
        event = json.loads(line)
        if event["event"] == "phase" and event["name"] == "transfer":
            begun = event["elapsed"]
        if event["event"] == "progress":
            values = {k: v for k, v in event.items() if k in STAT_FIELDS}
            samples.append((event["elapsed"] - begun, JobStats(active=event["elapsed_ms"] > 0, **values)))
    return samples


def replay(name: str, settings: MonitorSettings) -> list[tuple[float, Action, int]]:
    state, out = MonitorState(), []
    for elapsed, stats in recording(name):
        decisions, state = next_actions(stats, elapsed, state, settings)
        out += [(round(elapsed, 1), d.action, d.value) for d in decisions]
    return out


def test_completion_timeout_scales_per_gib_with_a_floor():
    assert completion_timeout(512) == 75.0
    assert completion_timeout(4096) == 600.0
    assert completion_timeout(2048, disk_bytes=1024**3) == 450.0  # copied disk data counts too
    assert completion_timeout(64) == 30.0
    assert completion_timeout(1024, per_gib=800) == 800.0  # nova's default, when asked


def test_downtime_steps_start_low_and_end_at_the_maximum():
    steps = downtime_steps(300, data_gib=0.5)
    assert steps[0] == (0.0, 60) and steps[-1][1] == 300
    assert [ms for _, ms in steps] == sorted(ms for _, ms in steps)
    assert [t for t, _ in steps] == sorted(t for t, _ in steps)
    assert downtime_steps(30, data_gib=1)[0][1] == 30  # never above the maximum
    big = downtime_steps(300, data_gib=8)
    assert big[1][0] == 80.0  # more data: more time between steps


def test_an_idle_guest_migrates_with_the_first_downtime_step_and_nothing_else():
    settings = settings_for(512, 0, max_downtime_ms=None, on_timeout="abort", timeout=None)
    assert replay("idle-shared.ndjson", settings) == [(0.6, Action.SET_DOWNTIME, 60)]


def test_a_guest_dirtying_memory_gets_more_downtime_as_time_goes_on():
    settings = MonitorSettings(completion_timeout=75, downtime_steps=downtime_steps(300, 0.5, delay_per_gib=2))
    decisions = replay("dirty-40mib.ndjson", settings)
    values = [v for _, a, v in decisions if a is Action.SET_DOWNTIME]
    assert values == sorted(values) and len(values) >= 2 and values[0] == 60
    assert all(a is Action.SET_DOWNTIME for _, a, _ in decisions)  # no abort, no stall: data kept moving


def test_a_slow_migration_is_aborted_at_the_completion_timeout_once():
    settings = MonitorSettings(completion_timeout=6)
    decisions = replay("slow-timeout.ndjson", settings)
    assert [(a, t >= 6) for t, a, _ in decisions if a is not Action.SET_DOWNTIME] == [(Action.ABORT, True)]


def test_a_cut_link_gives_one_stall_warning_then_the_timeout_aborts():
    settings = MonitorSettings(completion_timeout=30, stall_warning=20)
    decisions = [(t, a) for t, a, _ in replay("link-cut.ndjson", settings) if a is not Action.SET_DOWNTIME]
    assert [a for _, a in decisions] == [Action.WARN_STALL, Action.ABORT]
    assert decisions[0][0] >= 20 and decisions[1][0] >= 30


def test_with_postcopy_allowed_the_timeout_switches_instead_and_nothing_follows():
    settings = MonitorSettings(completion_timeout=6, on_timeout="postcopy", downtime_steps=((0, 50), (8, 100)))
    decisions = replay("slow-timeout.ndjson", settings)
    assert [a for _, a, _ in decisions] == [Action.SET_DOWNTIME, Action.POSTCOPY]  # no downtime step after it


def test_inactive_samples_change_nothing():
    state = MonitorState()
    decisions, after = next_actions(JobStats(active=False), 100.0, state, MonitorSettings(completion_timeout=1))
    assert decisions == [] and after == state


@pytest.mark.parametrize("source,dest,live,keep,resume,persist", [
    # live: the destination runs it and the source's copy is stopped -> the destination's is the newest
    (Side(True, "paused", True), Side(True, "running", True), True, "destination", False, False),
    (Side(False), Side(True, "running", False), True, "destination", False, True),
    # live: the destination's copy never got going (paused, or gone) -> the source keeps it
    (Side(True, "running", True), Side(False), True, "source", False, False),
    (Side(True, "paused", True), Side(True, "paused", False), True, "source", True, False),
    (Side(True, "paused", True), Side(False), True, "source", True, False),
    (Side(True, "running", True), Side(True, "running", False), True, "source", False, False),
    (Side(False), Side(True, "paused", True), True, "destination", True, False),
    # offline: a definition on the destination is complete (it is made last)
    (Side(True, "shut-off", True), Side(True, "shut-off", True), False, "destination", False, False),
    (Side(True, "shut-off", True), Side(False), False, "source", False, False),
    (Side(False), Side(False), False, "none", False, False),
])
def test_settle_keeps_exactly_one_copy(source, dest, live, keep, resume, persist):
    plan = settle(source, dest, live=live)
    assert (plan.keep, plan.resume, plan.persist) == (keep, resume, persist)
    assert plan.reason
