"""Showing what a long operation reports (:class:`vmctl.progress.Step`) the way the reader needs it.

- a terminal on stderr: rich's live display, a spinner with the current stage and a
  bar with bytes, speed and time left for transfers; each stage stays as a line;
- stderr piped or redirected: plain lines, a transfer at most every few seconds;
- ``--json``: one JSON object per line on stdout (``{"event": "stage", ...}``,
  ``{"event": "progress", "stage", "done", "total"}``), the result last;
- ``-q``: nothing (the result and errors still are printed).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any

from vmctl.cli.output import json_line, note
from vmctl.cli.state import quiet_now, state
from vmctl.progress import Step

JSON_EVERY = 1.0    # seconds between two progress lines of one transfer (--json)
LINES_EVERY = 5.0   # the same for plain lines


def _mib(count: int | None) -> str:
    return "?" if count is None else f"{count / 2**20:.1f} MiB"


class ProgressView:
    """A :data:`vmctl.progress.Report` for one command; use it as a context manager."""

    def __init__(self, json_out: bool, *, terminal: bool | None = None) -> None:
        if quiet_now():
            self.mode = "off"
        elif json_out:
            self.mode = "json"
            state().json_lines = True  # errors too are one line
        elif sys.stderr.isatty() if terminal is None else terminal:
            self.mode = "terminal"
        else:
            self.mode = "lines"
        self._last: dict[str, float] = {}  # transfer stage -> when it was last shown
        self._live: Any = None             # rich's Progress, once started
        self._tasks: dict[str, Any] = {}   # transfer stage -> rich task id
        self._spinner: Any = None

    def __enter__(self) -> "ProgressView":
        return self

    def __exit__(self, _type: type[BaseException] | None, _exc: BaseException | None,
                 _tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, step: Step) -> None:
        if self.mode == "off":
            return
        getattr(self, f"_{self.mode}")(step)

    def _due(self, step: Step, every: float) -> bool:
        """Whether a transfer sample is shown: its first, its last, or ``every`` seconds on."""
        now = time.monotonic()
        first = step.stage not in self._last
        if not (first or step.finished or now - self._last[step.stage] >= every):
            return False
        self._last[step.stage] = now
        return True

    def _json(self, step: Step) -> None:
        if not step.is_transfer or self._due(step, JSON_EVERY):
            json_line(step.to_dict())

    def _lines(self, step: Step) -> None:
        if not step.is_transfer:
            note(step.stage)
        elif self._due(step, LINES_EVERY):
            percent = f" ({100 * step.done // step.total}%)" if step.total else ""  # type: ignore[operator]
            note(f"{step.stage}: {_mib(step.done)} of {_mib(step.total)}{percent}")

    def _terminal(self, step: Step) -> None:
        live = self._start()
        if not step.is_transfer:
            live.console.print(step.stage, highlight=False, markup=False)
            live.update(self._spinner, description=step.stage)
            return
        task = self._tasks.get(step.stage)
        if task is None:
            task = self._tasks[step.stage] = live.add_task(step.stage, total=step.total, completed=step.done)
            live.refresh()  # the bar shows at once, however short the transfer
        else:
            live.update(task, completed=step.done, total=step.total)
        if step.finished:
            live.remove_task(task)
            del self._tasks[step.stage]
            live.console.print(f"{step.stage}: {_mib(step.total)}", highlight=False, markup=False)

    def _start(self) -> Any:
        if self._live is None:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)

            class OnlyForTransfers(TextColumn):
                """The bar and byte columns for tasks with a size; blank for the stage spinner."""

                def __init__(self, *columns: Any) -> None:
                    super().__init__("")
                    self.columns = columns

                def render(self, task: Any) -> Any:
                    from rich.text import Text

                    if task.total is None:
                        return Text("")
                    from rich.table import Table

                    row = Table.grid(padding=(0, 1))
                    cells = [column(task) for column in self.columns]
                    row.add_row(*cells)
                    return row

            self._live = Progress(
                SpinnerColumn(), TextColumn("{task.description}", markup=False),
                OnlyForTransfers(BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._spinner = self._live.add_task("working", total=None)
            self._live.start()
        return self._live
