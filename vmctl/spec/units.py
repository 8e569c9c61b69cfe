"""Parsing and printing sizes: ``512M``, ``2G``, ``2GiB``, ``1024`` (in a default unit)."""

from __future__ import annotations

import re

from vmctl.errors import InvalidInput

_UNITS = {
    "": None,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tib": 1024**4,
}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
MiB = 1024**2
GiB = 1024**3


def parse_size(text: str, *, default_unit: str = "b", what: str = "size") -> int:
    """Return a size in bytes. Units are binary (``G`` == ``GiB``); a bare number
    is in ``default_unit``. Raises :class:`InvalidInput` on anything else."""
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise InvalidInput(
            f"invalid {what} {text!r}",
            hint="use a number with a binary unit, e.g. 512M, 2G or 2GiB",
        )
    factor = _UNITS[unit] if unit else _UNITS[default_unit.lower()]
    value = int(float(match.group(1)) * factor)  # type: ignore[operator]
    if value <= 0:
        raise InvalidInput(f"invalid {what} {text!r}: must be more than zero", hint="e.g. 512M or 2G")
    return value


def format_size(nbytes: int) -> str:
    """Human-readable binary size, e.g. ``1.5GiB``."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            text = f"{value:.1f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, *, what: str = "duration") -> float:
    """'90', '90s', '30m', '2h', '1d', '1w' -> seconds."""
    match = _DURATION_RE.match(text)
    if not match:
        raise InvalidInput(f"invalid {what} {text!r}", hint="e.g. 90s, 30m, 2h, 1d (a bare number is seconds)")
    return float(match.group(1)) * _SECONDS[match.group(2)]
