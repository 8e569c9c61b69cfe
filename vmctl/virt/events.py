"""libvirt's domain lifecycle events, delivered by the event loop thread (virt.host)
into a queue the caller reads at its own pace."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from contextlib import contextmanager

import libvirt

from vmctl.spec.events import LifecycleEvent
from vmctl.virt.errors import libvirt_errors
from vmctl.virt.host import Host

_EVENTS = {
    libvirt.VIR_DOMAIN_EVENT_DEFINED: ("defined", ["added", "updated", "renamed", "from-snapshot"]),
    libvirt.VIR_DOMAIN_EVENT_UNDEFINED: ("undefined", ["removed", "renamed"]),
    libvirt.VIR_DOMAIN_EVENT_STARTED: ("started", ["booted", "migrated", "restored", "from-snapshot", "wakeup"]),
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: ("suspended", ["paused", "migrated", "io-error", "watchdog", "restored",
                                                       "from-snapshot", "api-error", "postcopy",
                                                       "postcopy-failed"]),
    libvirt.VIR_DOMAIN_EVENT_RESUMED: ("resumed", ["unpaused", "migrated", "from-snapshot", "postcopy",
                                                   "postcopy-failed"]),
    libvirt.VIR_DOMAIN_EVENT_STOPPED: ("stopped", ["shutdown", "destroyed", "crashed", "migrated", "saved",
                                                   "failed", "from-snapshot"]),
    libvirt.VIR_DOMAIN_EVENT_SHUTDOWN: ("shutdown", ["finished", "guest", "host"]),
    libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED: ("pmsuspended", ["memory", "disk"]),
    libvirt.VIR_DOMAIN_EVENT_CRASHED: ("crashed", ["panicked", "crashloaded"]),
}


def describe(event: int, detail: int) -> tuple[str, str]:
    name, details = _EVENTS.get(event, (f"event-{event}", []))
    return name, details[detail] if 0 <= detail < len(details) else f"detail-{detail}"


@contextmanager
def watch_lifecycle(host: Host, name: str | None = None) -> Iterator["queue.Queue[LifecycleEvent]"]:
    """Lifecycle events of every domain on ``host`` (or only of ``name``, which need not
    exist yet) while the block runs, put into the queue it yields."""
    events: "queue.Queue[LifecycleEvent]" = queue.Queue()

    def on_event(_conn, dom, event, detail, _opaque) -> None:
        dom_name = dom.name()
        if name is not None and dom_name != name:
            return
        kind, why = describe(event, detail)
        events.put(LifecycleEvent(time.time(), dom_name, dom.UUIDString(), kind, why, host.uri))

    with libvirt_errors("watch domain events"):
        callback = host.conn.domainEventRegisterAny(None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, on_event, None)
    try:
        yield events
    finally:
        try:
            host.conn.domainEventDeregisterAny(callback)
        except libvirt.libvirtError:
            pass  # the connection is gone already
