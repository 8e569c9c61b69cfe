"""Is the owner of an intent record still running? Decided from evidence, never from
the record's age alone.

- Same machine, same boot: the owner's pid exists and started at the recorded
  time (a reused pid started later) -> alive; else dead.
- Same machine, another boot: the machine restarted since -> dead.
- Another machine: only its heartbeat tells. The owner refreshes it every
  HEARTBEAT_INTERVAL seconds; after HEARTBEAT_TIMEOUT without one, the owner is
  taken as dead (its machine crashed, or its connection to this host is gone for
  good). Clocks of the two machines must agree within a few seconds (NTP).
"""

from __future__ import annotations

from collections.abc import Callable

from vmctl.spec.intent import Owner

HEARTBEAT_INTERVAL = 5.0
HEARTBEAT_TIMEOUT = 60.0


def owner_alive(owner: Owner, heartbeat: float, *, me: Owner, now: float,
                process_start: Callable[[int], int | None]) -> bool:
    """``process_start(pid)`` gives a local process's start time (None: no such process)."""
    if owner.machine == me.machine:
        if owner.boot != me.boot:
            return False
        return process_start(owner.pid) == owner.start
    return now - heartbeat < HEARTBEAT_TIMEOUT
