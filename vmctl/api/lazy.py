"""A cached property threads can compute side by side, one lock per object."""

from __future__ import annotations

import threading
from functools import cached_property

_LOCK = "_lazy_lock"


class unlocked_cached_property(cached_property):  # noqa: N801 - used as a decorator
    """``functools.cached_property`` with a lock per object instead of per class. Before
    Python 3.12 that lock is one per class, held while the value is computed: every
    thread opening its own ``Vmctl`` connection (``exec_many``, ``up``, the fleet fan-out)
    waited for the others' connects, so three hosts' listings took three connects' time
    (bench/fleet.py). Per object, threads sharing one ``Vmctl`` still compute its
    connection once (a re-entrant lock: ``vms`` reads ``host`` while it is computed)."""

    def __get__(self, instance, owner=None):  # type: ignore[override]
        if instance is None:
            return self
        lock = instance.__dict__.setdefault(_LOCK, threading.RLock())  # setdefault: one winner
        with lock:
            if self.attrname in instance.__dict__:  # another thread computed it meanwhile
                return instance.__dict__[self.attrname]
            value = instance.__dict__[self.attrname] = self.func(instance)
            return value
