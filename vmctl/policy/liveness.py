"""Is the owner of an intent record still running? Decided from evidence, never from
the record's age alone, and never "dead" on a guess.

- The owner's pid space is ours (same machine-id, same boot, same pid namespace) and
  its process is visible: it is alive exactly when its pid runs with the recorded
  start time (a reused pid started later). This is the one proof of death that
  overrides a fresh heartbeat.
- The pid exists but cannot be read (``/proc`` mounted with ``hidepid``, another
  user's process): a reused pid cannot be told apart, so the heartbeat decides.
- Anything else (another machine, a container sharing our machine-id in another pid
  namespace, the same machine-id after another boot, which may be a clone of this
  machine): only the heartbeat tells. The owner refreshes it every
  HEARTBEAT_INTERVAL seconds; after HEARTBEAT_TIMEOUT without one it is taken as
  dead (its machine crashed, or its connection to this host is gone for good).
  Clocks of the machines must agree within a few seconds (NTP).

Records written before owners named their pid namespace (format 1) are judged by
machine and boot, as they were then.
"""

from __future__ import annotations

from collections.abc import Callable

from vmctl.spec.intent import Owner

HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 60.0


def same_pid_space(owner: Owner, me: Owner) -> bool:
    if owner.machine != me.machine or owner.boot != me.boot or not owner.boot:
        return False
    return owner.pidns == me.pidns if owner.pidns else True  # format 1: no namespace recorded


def owner_alive(owner: Owner, heartbeat: float, *, me: Owner, now: float,
                process_start: Callable[[int], int | None], pid_exists: Callable[[int], bool]) -> bool:
    """``process_start(pid)``: a local process's start time, None when it cannot be read;
    ``pid_exists(pid)``: whether the pid runs at all (readable or not)."""
    fresh = now - heartbeat < HEARTBEAT_TIMEOUT
    if not same_pid_space(owner, me):
        if not owner.pidns and owner.machine == me.machine and owner.boot != me.boot:
            return False  # format 1 rule: this machine restarted since
        return fresh
    start = process_start(owner.pid)
    if start is not None:
        return start == owner.start
    if pid_exists(owner.pid):
        return fresh  # there, but hidden from us: the heartbeat tells a reused pid apart
    return False
