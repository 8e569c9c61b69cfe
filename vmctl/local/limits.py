"""Running a host tool on untrusted input with memory, CPU and wall-clock limits.

A crafted image can make a parser such as ``qemu-img info`` allocate or loop without
end; the limits turn that into a failed command rather than a stuck or swapping host.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Sequence

from vmctl.errors import HostError, Timeout

INSTALL_HINTS = {"qemu-img": "install qemu-utils (.ci/setup does it)"}


def _capped(kind: int, wanted: int) -> tuple[int, int]:
    """(soft, hard) for ``kind``: ``wanted`` but never above the hard limit we already have."""
    _, hard = resource.getrlimit(kind)
    value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    return value, value


def run_limited(
    argv: Sequence[str],
    *,
    memory_bytes: int = 1 << 30,
    cpu_seconds: int = 30,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (no shell, stdin from /dev/null, text output captured) under limits.

    The child gets RLIMIT_AS = ``memory_bytes`` and RLIMIT_CPU = ``cpu_seconds``; it is
    killed after ``timeout`` seconds of wall-clock time. The caller checks the return code.
    """
    argv = [str(a) for a in argv]
    tool = argv[0]
    # Computed here so the child, between fork and exec, only makes two system calls.
    memory = _capped(resource.RLIMIT_AS, memory_bytes)
    cpu = _capped(resource.RLIMIT_CPU, cpu_seconds)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, memory)
        resource.setrlimit(resource.RLIMIT_CPU, cpu)

    try:
        return subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, encoding="utf-8",
            errors="replace", timeout=timeout, check=False, shell=False, preexec_fn=limit,
        )
    except FileNotFoundError:
        hint = INSTALL_HINTS.get(tool.rsplit("/", 1)[-1], f"install {tool} and make sure it is on PATH")
        raise HostError(f"{tool} is not installed", hint=hint) from None
    except PermissionError:
        raise HostError(f"{tool} cannot be run (permission denied)", hint=f"check {tool}'s permissions") from None
    except subprocess.TimeoutExpired:
        raise Timeout(f"{tool} did not finish within {timeout:g} s",
                      hint="the input may be crafted to be slow; check it, or retry if the host is busy") from None
