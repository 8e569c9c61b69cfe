"""The staged wait with a fake probe and a fake clock: stages in order, each reported
as it is reached, a timeout naming the stage it waited for."""

import pytest

from vmctl.errors import GuestError, Timeout
from vmctl.guest.readiness import wait_ready


class FakeProbe:
    def __init__(self, auth_failures: int = 0) -> None:
        self.auth_failures = auth_failures

    def running(self) -> bool:
        return True

    def endpoint(self):
        return ("127.0.0.1", 2222)

    def port_open(self, endpoint) -> bool:
        return True

    def banner(self, endpoint) -> bool:
        return True

    def authenticate(self, endpoint):
        if self.auth_failures:
            self.auth_failures -= 1
            raise GuestError("not yet")
        return "session"

    def boot_finished(self, session) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_each_stage_is_reported_as_it_is_reached():
    clock, heard = Clock(), []
    ready = wait_ready(FakeProbe(auth_failures=2), until="ssh", timeout=10, name="vm", clock=clock,
                       sleep=clock.sleep, on_stage=lambda stage, s: heard.append((stage, s)))
    assert [s for s, _ in heard] == ["domain running", "address known", "port open", "SSH banner", "authenticated"]
    assert heard[-1] == ("authenticated", 1.0)  # two failed attempts, 0.5 s apart
    assert ready.session == "session" and list(ready.stages) == [s for s, _ in heard]


def test_a_timeout_names_the_stage_and_reports_only_what_was_reached():
    clock, heard = Clock(), []
    with pytest.raises(Timeout, match="waiting for 'authenticated'"):
        wait_ready(FakeProbe(auth_failures=1000), until="ssh", timeout=3, name="vm", clock=clock,
                   sleep=clock.sleep, on_stage=lambda stage, s: heard.append(stage))
    assert heard == ["domain running", "address known", "port open", "SSH banner"]
