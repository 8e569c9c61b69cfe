"""Test-only pause points, so fault-injection tests stop vmctl at an exact step
instead of guessing with sleeps.

With ``VMCTL_TEST_PAUSE_AT=create:disk`` (for example) and ``VMCTL_TEST_PAUSE_FILE=PATH``,
an operation reaching that checkpoint writes its pid to PATH and waits there while
PATH exists (at most 120 s): a test can send it a signal, or change something and
remove PATH to let it go on. Without the variables (always, outside tests) a
checkpoint does nothing.
"""

from __future__ import annotations

import os
import time


def checkpoint(name: str) -> None:
    if os.environ.get("VMCTL_TEST_PAUSE_AT") != name:
        return
    path = os.environ.get("VMCTL_TEST_PAUSE_FILE")
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        os.replace(tmp, path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not path or os.path.exists(path)):
        time.sleep(0.05)
