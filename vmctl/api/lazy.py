"""A cached property threads can compute side by side."""

from __future__ import annotations

from functools import cached_property


class unlocked_cached_property(cached_property):  # noqa: N801 - used as a decorator
    """``functools.cached_property`` without its lock. Before Python 3.12 that lock is one
    per class, held while the value is computed: every thread opening its own ``Vmctl``
    connection (``exec_many``, ``up``, the fleet fan-out) waited for the others' connects,
    so three hosts' listings took three connects' time (bench/fleet.py). Each object is
    used by one thread, so two computing the same object's value at once does not happen."""

    def __get__(self, instance, owner=None):  # type: ignore[override]
        if instance is None:
            return self
        value = instance.__dict__[self.attrname] = self.func(instance)
        return value
