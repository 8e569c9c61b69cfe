"""Migration decisions, as pure functions of job statistics and time (in the spirit of
nova's ``libvirt/migration.py``): the completion timeout, the downtime steps, and
what the monitor does next. Replayed against recorded job statistics in the tests.

    >>> completion_timeout(memory_mib=512)
    75.0
    >>> downtime_steps(300, data_gib=0.5)
    ((0.0, 60), (5.0, 108), (10.0, 156), (15.0, 204), (20.0, 252), (25.0, 300))
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from vmctl.errors import Conflict
from vmctl.spec.migration import JobStats
from vmctl.spec.migration_record import MigrationSpec

TIMEOUT_PER_GIB = 150.0      # seconds of completion timeout per GiB of data (KubeVirt's default)
MIN_TIMEOUT = 30.0
DEFAULT_MAX_DOWNTIME_MS = 300  # QEMU's own default downtime limit
DOWNTIME_STEPS = 5
DOWNTIME_DELAY_PER_GIB = 10.0  # seconds between steps, per GiB of data (at least MIN_STEP_DELAY)
MIN_STEP_DELAY = 5.0
MIN_DOWNTIME_MS = 50
STALL_WARNING = 20.0         # seconds without progress before one (advisory) warning
POLL_INTERVAL = 0.5          # seconds between job statistics samples
GIB = 1024**3


def completion_timeout(memory_mib: int, disk_bytes: int = 0, *, per_gib: float = TIMEOUT_PER_GIB,
                       minimum: float = MIN_TIMEOUT) -> float:
    """Seconds a migration may take: ``per_gib`` for each GiB of guest memory (and of
    disk data copied along), never less than ``minimum``.

    >>> completion_timeout(2048, disk_bytes=1024**3)
    450.0
    """
    data_gib = memory_mib / 1024 + disk_bytes / GIB
    return max(minimum, round(per_gib * data_gib, 1))


def downtime_steps(max_downtime_ms: int, data_gib: float, *, steps: int = DOWNTIME_STEPS,
                   delay_per_gib: float = DOWNTIME_DELAY_PER_GIB) -> tuple[tuple[float, int], ...]:
    """(seconds after the start, allowed downtime in ms): start low, so an idle guest
    switches over with a short pause, and allow more as time goes on, so a busy one
    still converges; the last step is ``max_downtime_ms``.

    >>> downtime_steps(100, data_gib=4)
    ((0.0, 50), (40.0, 60), (80.0, 70), (120.0, 80), (160.0, 90), (200.0, 100))
    """
    start = min(max_downtime_ms, max(MIN_DOWNTIME_MS, max_downtime_ms // steps))
    delay = max(MIN_STEP_DELAY, delay_per_gib * data_gib)
    return tuple((round(i * delay, 1), start + (max_downtime_ms - start) * i // steps) for i in range(steps + 1))


class Action(str, Enum):
    SET_DOWNTIME = "set-downtime"
    ABORT = "abort"              # the completion timeout passed: abort, the source keeps running
    POSTCOPY = "postcopy"        # the completion timeout passed: switch to post-copy (opted in)
    WARN_STALL = "warn-stall"    # no progress for a while (advisory: nothing is done about it)


@dataclass(frozen=True)
class Decision:
    action: Action
    value: int = 0
    reason: str = ""


@dataclass(frozen=True)
class MonitorSettings:
    completion_timeout: float
    on_timeout: str = "abort"    # or "postcopy"
    downtime_steps: tuple[tuple[float, int], ...] = ()
    stall_warning: float = STALL_WARNING


@dataclass(frozen=True)
class MonitorState:
    """What the monitor remembers between samples."""

    next_step: int = 0
    postcopy: bool = False
    timed_out: bool = False
    processed: int = -1          # bytes moved at the last sample that showed movement
    progress_at: float = 0.0     # elapsed seconds when bytes last moved
    stall_warned: bool = False


def settings_for(memory_mib: int, copied_disk_bytes: int, *, max_downtime_ms: int | None, on_timeout: str,
                 timeout: float | None) -> MonitorSettings:
    data_gib = memory_mib / 1024 + copied_disk_bytes / GIB
    return MonitorSettings(
        completion_timeout=timeout if timeout is not None else completion_timeout(memory_mib, copied_disk_bytes),
        on_timeout=on_timeout,
        downtime_steps=downtime_steps(max_downtime_ms or DEFAULT_MAX_DOWNTIME_MS, data_gib))


def next_actions(stats: JobStats, elapsed: float, state: MonitorState,
                 settings: MonitorSettings) -> tuple[list[Decision], MonitorState]:
    """What to do after one sample taken ``elapsed`` seconds into the migration."""
    decisions: list[Decision] = []
    if not stats.active:
        return decisions, state
    if stats.data_processed > state.processed:
        state = replace(state, processed=stats.data_processed, progress_at=elapsed)
    elif not state.stall_warned and not state.postcopy and elapsed - state.progress_at >= settings.stall_warning:
        decisions.append(Decision(Action.WARN_STALL, reason=f"no data moved for {elapsed - state.progress_at:.0f} s "
                                  f"({_mib(stats.data_remaining)} MiB remaining): is the link between the hosts down?"))
        state = replace(state, stall_warned=True)
    if not state.timed_out and elapsed >= settings.completion_timeout:
        state = replace(state, timed_out=True)
        if settings.on_timeout == "postcopy":
            decisions.append(Decision(Action.POSTCOPY, reason=f"not complete after {settings.completion_timeout:g} s"))
            return decisions, replace(state, postcopy=True)
        decisions.append(Decision(Action.ABORT, reason=f"not complete after {settings.completion_timeout:g} s"))
        return decisions, state
    if not state.postcopy:
        while state.next_step < len(settings.downtime_steps) and \
                elapsed >= settings.downtime_steps[state.next_step][0]:
            ms = settings.downtime_steps[state.next_step][1]
            state = replace(state, next_step=state.next_step + 1)
            if state.next_step == len(settings.downtime_steps) or elapsed < settings.downtime_steps[state.next_step][0]:
                decisions.append(Decision(Action.SET_DOWNTIME, ms, f"allow {ms} ms of downtime"))
    return decisions, state


def _mib(n: int) -> int:
    return n // (1024 * 1024)


# --- after a dead migration: which copy of the guest stays -------------------------------

@dataclass(frozen=True)
class Side:
    """A domain as a repair finds it on one host (only one with the migration's UUID counts)."""

    present: bool
    state: str = ""        # running, paused, shut-off, ...
    persistent: bool = False


@dataclass(frozen=True)
class Settlement:
    keep: str              # "source", "destination" or "none" (no copy found anywhere)
    resume: bool = False   # the kept copy is paused by the migration: resume it
    persist: bool = False  # the kept copy is transient: define it
    remove_other: bool = True
    wait: bool = False     # nothing can be decided now (post-copy not finished): change nothing
    reason: str = ""


def settle(source: Side, dest: Side, *, live: bool, postcopy: bool = False) -> Settlement:
    """Decide, from both hosts' state, where a migration whose vmctl died leaves the guest.

    A live migration resumes the guest on the destination only after the source has
    stopped it for good (libvirt's Finish comes after the source's Perform): a running
    destination copy is the newest. A destination copy that is still paused never
    got all the memory (or its Finish never came): the source's copy is the real one.
    An offline migration defines the destination last (after copying storage): a
    definition there is complete.

    Once the switch to post-copy was recorded the source's copy is stale for good:
    the destination is kept whatever its state, never removed, and the source is
    never resumed. A destination that does not run (post-copy failed or still going)
    is left as it is (``wait``): nothing is decided until it runs.
    """
    if postcopy:
        if dest.present and dest.state == "running":
            return Settlement("destination", persist=not dest.persistent,
                              reason="post-copy was under way: the destination holds the newest memory")
        return Settlement("none", remove_other=False, wait=True,
                          reason="post-copy was under way and the destination does not run the guest "
                                 f"({dest.state or 'absent'} there, {source.state or 'absent'} on the source): "
                                 "its memory may be split between the hosts; neither copy is touched")
    if live:
        if dest.present and dest.state == "running" and source.state != "running":
            return Settlement("destination", persist=not dest.persistent,
                              reason="the destination runs the guest and the source's copy is stopped")
        if source.present:
            return Settlement("source", resume=source.state == "paused",
                              reason="the migration did not complete: the source keeps the guest")
        if dest.present:
            return Settlement("destination", resume=dest.state == "paused", persist=not dest.persistent,
                              reason="only the destination has the guest")
        return Settlement("none", remove_other=False, reason="neither host has the guest")
    if dest.present and dest.persistent:
        return Settlement("destination", reason="the destination's definition is complete")
    if source.present:
        return Settlement("source", reason="the destination was not defined yet")
    if dest.present:
        return Settlement("destination", persist=True, reason="only the destination has the guest")
    return Settlement("none", remove_other=False, reason="neither host has the guest")


def role_of(spec: MigrationSpec, here_uuid: str, *, name: str = "") -> str:
    """Which side of the recorded migration the host with UUID ``here_uuid`` is:
    "source" or "destination". Conflict when it cannot tell (its UUID is unknown, or
    matches neither or both recorded hosts): a repair then changes nothing."""
    what = f"the migration of {name}" if name else "the migration"
    hint = "run `vmctl repair` connected to one of the two hosts the record names; nothing was changed"
    if not here_uuid:
        raise Conflict(f"cannot tell this host's role in {what}: libvirt reports no host UUID", hint=hint)
    if spec.source.uuid == spec.destination.uuid:
        raise Conflict(f"cannot tell this host's role in {what}: the record names host UUID {here_uuid} "
                       "as both source and destination", hint=hint)
    if here_uuid == spec.source.uuid:
        return "source"
    if here_uuid == spec.destination.uuid:
        return "destination"
    raise Conflict(f"cannot tell this host's role in {what}: its host UUID {here_uuid} is neither the source's "
                   f"({spec.source.uuid}) nor the destination's ({spec.destination.uuid})", hint=hint)
