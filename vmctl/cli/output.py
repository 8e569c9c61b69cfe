"""Printing results for people (tables, lines) and scripts (--json)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    for row in [list(headers), *rows]:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")


def line(text: str = "") -> None:
    sys.stdout.write(text + "\n")


def note(text: str) -> None:
    """Progress and remarks go to stderr so stdout stays parseable."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()
