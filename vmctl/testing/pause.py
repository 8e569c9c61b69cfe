"""A vmctl process held at one of its test pause points (vmctl.local.testhooks), for
fault-injection tests and benchmarks: wait until it gets there, then signal it or let
it go on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

VMCTL = [sys.executable, "-m", "vmctl"]


class PausedVmctl:
    def __init__(self, args: list[str], point: str, workdir: Path, *, env: dict[str, str] | None = None,
                 timeout: float = 240.0, stdout: int | None = subprocess.PIPE) -> None:
        self.point = point
        self.pause = Path(workdir) / f"pause-{point.replace(':', '-')}-{os.getpid()}-{time.monotonic_ns()}"
        environ = {**os.environ, **(env or {}), "VMCTL_TEST_PAUSE_AT": point, "VMCTL_TEST_PAUSE_FILE": str(self.pause)}
        self.proc = subprocess.Popen([*VMCTL, *args], env=environ, stdout=stdout, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        while not self.pause.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"vmctl ended before {point} (exit {self.proc.returncode}): {err or out}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"vmctl never reached {point} within {timeout:g} s")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def resume(self, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        """Let it go on from the pause point, and wait for it to finish."""
        self.pause.unlink(missing_ok=True)
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)

    def release(self) -> None:
        """Let it go on without waiting."""
        self.pause.unlink(missing_ok=True)

    def stop(self, sig: signal.Signals, timeout: float = 60.0) -> tuple[int, float, str]:
        """Send ``sig``; (exit code, seconds from the signal to the exit, stderr)."""
        sent = time.monotonic()
        self.proc.send_signal(sig)
        _out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, time.monotonic() - sent, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=30)
