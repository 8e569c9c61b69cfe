"""Reading a command's ``--json`` output when it is NDJSON (events, then the result)."""

from __future__ import annotations

import json


def split(stdout: str) -> tuple[list[dict], dict]:
    """(the events, the result): one JSON object per line, every line but the last an event."""
    lines = [json.loads(text) for text in stdout.splitlines() if text.strip()]
    if not lines:
        raise ValueError("no JSON line in the output")
    *events, result = lines
    strays = [e for e in events if "event" not in e]
    if strays:
        raise ValueError(f"lines before the result that are not events: {strays}")
    return events, result


def result(stdout: str) -> dict:
    """The last line: the result (or ``{"error": ...}``)."""
    return split(stdout)[1]
