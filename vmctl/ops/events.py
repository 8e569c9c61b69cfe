"""`vmctl events`: libvirt's lifecycle events as they happen, bounded by a time or a count."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from vmctl.errors import InvalidInput
from vmctl.spec.events import LifecycleEvent
from vmctl.spec.names import check_name
from vmctl.virt.events import watch_lifecycle
from vmctl.virt.host import Host


def stream_events(host: Host, on_event: Callable[[LifecycleEvent], object], *, name: str | None = None,
                  timeout: float | None = None, count: int | None = None) -> int:
    """Call ``on_event`` for each event until ``timeout`` seconds passed or ``count``
    events came (without either: until interrupted); returns how many came."""
    if name is not None:
        check_name(name)
    if count is not None and count < 1:
        raise InvalidInput(f"--count {count} must be at least 1", hint="e.g. --count 1")
    deadline = None if timeout is None else time.monotonic() + timeout
    seen = 0
    with watch_lifecycle(host, name) as events:
        while count is None or seen < count:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if wait <= 0:
                break
            try:
                event = events.get(timeout=wait)
            except queue.Empty:
                continue
            on_event(event)
            seen += 1
    return seen
