"""What long operations tell whoever watches them: the stages they reach and the bytes they move.

Use cases never print (see docs/architecture.md): they call a :data:`Report` with
:class:`Step` values, and the CLI turns those into a progress bar on a terminal,
plain lines when piped, JSON lines with ``--json`` and nothing with ``-q``
(:mod:`vmctl.cli.progress`). Python callers pass any callable, or nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class Step:
    """A stage reached (``done``/``total`` None) or bytes moved so far in a transfer."""

    stage: str
    done: int | None = None
    total: int | None = None

    @property
    def is_transfer(self) -> bool:
        return self.done is not None

    @property
    def finished(self) -> bool:
        """A transfer's last sample: all of a known total moved."""
        return self.total is not None and self.done is not None and self.done >= self.total

    def to_dict(self) -> dict[str, object]:
        if not self.is_transfer:
            return {"event": "stage", "stage": self.stage}
        return {"event": "progress", "stage": self.stage, "done": self.done, "total": self.total}


Report = Callable[[Step], None]


def ignore(_step: Step) -> None:
    """The report of a caller that does not watch."""


def reporter(report: Report | None) -> Report:
    return report if report is not None else ignore


def texts(report: Report | None) -> Callable[[str], None]:
    """A stage-text callback (what the image builders take) that reports :class:`Step` values."""
    report = reporter(report)
    return lambda text: report(Step(text.strip()))


def transfer(report: Report | None, stage: str, total: int | None) -> Callable[[int], None]:
    """A callback taking the bytes moved so far, reported as ``stage`` out of ``total``."""
    report = reporter(report)
    return lambda done: report(Step(stage, done, total))


def timed_stages(report: Report | None) -> Callable[[str, float], None]:
    """An ``on_stage(stage, seconds)`` callback (what ``Vmctl.wait`` takes) that reports
    each stage as a :class:`Step` saying when it was reached."""
    report = reporter(report)
    return lambda stage, seconds: report(Step(f"{stage} ({seconds:.1f} s)"))


class CountingReader:
    """A binary file whose reads are counted and reported (uploads through libvirt streams)."""

    def __init__(self, raw: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self._raw, self._on_bytes, self._done = raw, on_bytes, 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        if data:
            self._done += len(data)
            self._on_bytes(self._done)
        return data
