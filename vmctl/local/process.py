"""This process and its machine, as an intent record's owner (see vmctl.spec.intent)."""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from pathlib import Path

from vmctl.spec.intent import Owner


def process_start(pid: int) -> int | None:
    """A local process's start time (clock ticks since boot), None if there is none, it
    is a zombie (it has finished), or it cannot be read (``hidepid``: see pid_exists)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (OSError, IndexError):
        return None
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def pid_exists(pid: int) -> bool:
    """Whether a process with this pid runs, even one ``/proc`` hides from us."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@lru_cache(maxsize=1)
def pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


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
                 hostname=socket.gethostname(), user=user, pidns=pid_namespace())
