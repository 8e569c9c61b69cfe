"""Running host tools (ip, unshare, taskset) for the lab: bounded, argv only."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from vmctl.errors import OperationFailed, Timeout


def run(argv: Sequence[str], *, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell); OperationFailed with stderr when it fails."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise Timeout(f"`{' '.join(argv)}` did not finish within {timeout:g} s") from None
    except FileNotFoundError:
        raise OperationFailed(f"{argv[0]} is not installed", hint="run .ci/setup (iproute2, util-linux)") from None
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise OperationFailed(f"`{' '.join(argv)}` failed (exit {proc.returncode}): {' / '.join(detail)}",
                              hint="the lab host needs root, iproute2 and util-linux")
    return proc
