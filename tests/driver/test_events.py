"""Lifecycle events through the test driver: pause, resume and destroy of its
built-in domain 'test' arrive as typed events, in order."""

import queue

from vmctl.virt import domains
from vmctl.virt.events import describe, watch_lifecycle
from vmctl.virt.host import Host


def test_lifecycle_events_arrive_in_order_and_only_for_the_watched_name():
    with Host("test:///default") as host, watch_lifecycle(host, "test") as events:
        dom = domains.lookup(host, "test")
        dom.suspend()
        dom.resume()
        dom.destroy()
        seen = []
        while len(seen) < 3:
            seen.append(events.get(timeout=10))
        assert [(e.event, e.detail) for e in seen] == [("suspended", "paused"), ("resumed", "unpaused"),
                                                        ("stopped", "destroyed")]
        assert {e.name for e in seen} == {"test"} and seen[0].host == "test:///default"
        try:
            extra = events.get(timeout=0.2)
        except queue.Empty:
            extra = None
        assert extra is None


def test_unknown_event_codes_are_named_not_dropped():
    assert describe(99, 0) == ("event-99", "detail-0")
    assert describe(2, 99) == ("started", "detail-99")
