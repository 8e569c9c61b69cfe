"""Vmctl's cached connection properties are computed side by side by threads, each on
its own object (functools.cached_property before Python 3.12 holds one lock per class)."""

from __future__ import annotations

import threading

from vmctl.api.lazy import unlocked_cached_property


def test_two_objects_compute_their_values_at_the_same_time():
    both_inside = threading.Barrier(2, timeout=5)  # broken (an error) if one waits for the other

    class Conn:
        calls = 0

        @unlocked_cached_property
        def host(self) -> int:
            both_inside.wait()
            Conn.calls += 1
            return id(self)

    objects = [Conn(), Conn()]
    errors: list[BaseException] = []

    def use(obj: Conn) -> None:
        try:
            obj.host
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    workers = [threading.Thread(target=use, args=(obj,)) for obj in objects]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert errors == [] and Conn.calls == 2
    assert objects[0].host == id(objects[0]) and Conn.calls == 2  # cached: not computed again
    assert isinstance(Conn.__dict__["host"], unlocked_cached_property)


def test_threads_sharing_one_object_compute_its_value_once():
    class Conn:
        calls = 0

        @unlocked_cached_property
        def host(self) -> int:
            Conn.calls += 1
            threading.Event().wait(0.2)  # a slow connect: the other thread arrives meanwhile
            return Conn.calls

        @unlocked_cached_property
        def vms(self) -> int:
            return self.host + 100  # re-entrant: computed while holding the object's lock

    shared = Conn()
    seen: list[int] = []
    workers = [threading.Thread(target=lambda: seen.append(shared.host)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(10)
    assert seen == [1, 1, 1] and Conn.calls == 1
    assert Conn().vms == 102
