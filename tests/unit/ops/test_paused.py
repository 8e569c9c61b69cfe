"""Which paused guests repair resumes for a dead group operation: only the recorded
domain, only while it is paused the way vmctl paused it."""

from __future__ import annotations

import pytest

from vmctl.errors import NotFound
from vmctl.ops import paused


class FakeDomain:
    def __init__(self, uuid: str, reason: str | None) -> None:
        self.uuid, self.reason, self.resumed = uuid, reason, False

    def pause_reason(self) -> str | None:
        return self.reason

    def resume(self) -> None:
        self.resumed = True


@pytest.mark.parametrize(("reason", "resumed"), [
    ("user", True),            # vmctl's suspend (group snapshot)
    ("from-snapshot", True),   # a revert to paused (group revert)
    ("io-error", False),       # the host paused it: a person must look first
    ("watchdog", False), ("migration", False), ("snapshot", False), ("other", False),
    (None, False),             # running or shut off: nothing to do
])
def test_only_a_pause_vmctl_made_is_undone(monkeypatch, reason, resumed):
    dom = FakeDomain("u-1", reason)
    monkeypatch.setattr(paused.domains, "lookup", lambda host, name: dom)
    assert paused.resume_paused(None, "web1", "u-1") is resumed  # type: ignore[arg-type]
    assert dom.resumed is resumed


def test_a_same_named_other_domain_or_a_gone_one_is_left_alone(monkeypatch):
    dom = FakeDomain("u-2", "user")
    monkeypatch.setattr(paused.domains, "lookup", lambda host, name: dom)
    assert paused.resume_paused(None, "web1", "u-1") is False and not dom.resumed  # type: ignore[arg-type]

    def gone(host, name):
        raise NotFound("no VM named 'web1'")
    monkeypatch.setattr(paused.domains, "lookup", gone)
    assert paused.resume_paused(None, "web1", "u-1") is False  # type: ignore[arg-type]
