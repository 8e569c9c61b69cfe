"""This process and its machine, as an intent record's owner (see vmctl.spec.intent)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

from vmctl.spec.intent import Owner


def process_start(pid: int) -> int | None:
    """A local process's start time (clock ticks since boot), None if there is none
    (or it is a zombie: it has finished)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


@lru_cache(maxsize=1)
def machine_id() -> str:
    """/etc/machine-id where there is one, else the hostname (stable enough for a client).
    ``VMCTL_TEST_MACHINE_ID`` stands in for another machine in tests."""
    if os.environ.get("VMCTL_TEST_MACHINE_ID"):
        return os.environ["VMCTL_TEST_MACHINE_ID"]
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        try:
            text = Path(path).read_text().strip()
        except OSError:
            continue
        if text:
            return text
    return "host:" + socket.gethostname()


@lru_cache(maxsize=1)
def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def me() -> Owner:
    pid = os.getpid()
    try:
        import pwd

        user = pwd.getpwuid(os.getuid()).pw_name
    except (KeyError, ImportError):
        user = str(os.getuid())
    return Owner(machine=machine_id(), boot=boot_id(), pid=pid, start=process_start(pid) or 0,
                 hostname=socket.gethostname(), user=user)
