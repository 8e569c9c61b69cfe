"""Printing results for people (tables, lines) and scripts (--json).

Everything the CLI writes goes through here, so a reader that went away
(``vmctl list | head -1``) is noticed in one place: :class:`OutputClosed`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


class OutputClosed(Exception):
    """stdout's reader closed the pipe; the CLI ends quietly (exit 141, as after SIGPIPE)."""


def write_bytes(data: bytes, *, stream: str = "stdout") -> None:
    """Raw bytes (a guest command's output) to stdout or stderr, flushed."""
    target = sys.stdout if stream == "stdout" else sys.stderr
    try:
        target.buffer.write(data)
        target.buffer.flush()
    except BrokenPipeError:
        raise OutputClosed() from None


def _write(text: str) -> None:
    try:
        sys.stdout.write(text)
    except BrokenPipeError:
        raise OutputClosed() from None


def emit_json(value: Any) -> None:
    _write(json.dumps(value, indent=2, default=str) + "\n")


def _quiet() -> bool:
    from vmctl.cli.state import quiet_now

    return quiet_now()


def json_line(value: Any) -> None:
    """One JSON object on one line (NDJSON: events of long operations, then the result)."""
    _write(json.dumps(value, default=str, separators=(",", ":")) + "\n")
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise OutputClosed() from None


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    if _quiet():
        return
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    _write("".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n"
                   for row in [list(headers), *rows]))


def line(text: str = "") -> None:
    if _quiet():
        return
    _write(text + "\n")


def note(text: str) -> None:
    """Progress and remarks go to stderr so stdout stays parseable."""
    if _quiet():
        return
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except BrokenPipeError:
        raise OutputClosed() from None


def report_error(error: dict[str, object], wants_json: bool, *, one_line: bool = False) -> None:
    """An error as ``{"error": {...}}`` on stdout, always on one line (--json: a script reads
    it whole or, after a command's JSON lines, as the last line), else ``error:`` and
    ``hint:`` on stderr. (``one_line`` is kept for callers; every JSON error is one line.)"""
    if wants_json:
        _write(json.dumps({"error": error}, default=str, separators=(",", ":")) + "\n")
    else:  # (never silenced by -q)
        text = f"error: {error['message']}\n" + (f"hint: {error['hint']}\n" if error.get("hint") else "")
        try:
            sys.stderr.write(text)
            sys.stderr.flush()
        except BrokenPipeError:
            raise OutputClosed() from None
