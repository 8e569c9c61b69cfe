"""Watching a guest boot on its serial console."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from vmctl.errors import HostKeyMismatch, OperationFailed, Timeout


def wait_for_console(console, marker: str, timeout: float, started: float,
                     name: str, record: Callable[[bytes], object] | None = None) -> tuple[float, list[str]]:
    """Read the console until a line matches ``marker``; (seconds, last lines).
    ``record`` gets every byte read (a run's console log)."""
    pattern = re.compile(marker)
    text = ""
    deadline = started + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            tail = _tail(text)
            raise Timeout(f"{name} did not finish booting within {timeout:.0f} s",
                          hint="last console lines: " + " | ".join(tail[-3:]) if tail else
                          "the console stayed silent: check the image's kernel command line (console=ttyS0)")
        data, is_open = console.read_available(min(remaining, 0.5))
        if record is not None and data:
            record(data)
        text += data.decode("utf-8", "replace")
        if pattern.search(text):
            return round(time.monotonic() - started, 3), _tail(text)
        if not is_open:
            raise OperationFailed(f"the console of {name} closed while booting",
                                  hint="the guest powered off or crashed: " + " | ".join(_tail(text)[-3:]))


def check_console_fingerprint(console_lines: list[str], expected: str, name: str) -> None:
    """The guest prints its host key fingerprint on the serial console (a channel
    no network attacker controls): it must be the key vmctl generated and pinned."""
    for text in console_lines:
        if "hostkey-fingerprint " in text:
            shown = text.split("hostkey-fingerprint ", 1)[1].split()[0]
            if shown != expected:
                raise HostKeyMismatch(f"{name} reports host key {shown} on its console, not the pinned {expected}",
                                      hint="the image did not take the host key from the seed; check its cloud-init")


def _tail(text: str, lines: int = 8) -> list[str]:
    clean = [ln.strip() for ln in text.replace("\r", "").splitlines() if ln.strip()]
    return clean[-lines:]
