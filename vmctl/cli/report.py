"""The one place where errors become messages and exit codes (used by the full CLI
and by the fast path of the reading commands; no click import here)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Protocol

from vmctl.cli.output import OutputClosed, report_error
from vmctl.errors import BROKEN_PIPE_EXIT, INTERRUPTED_EXIT, VmctlError


class Flags(Protocol):
    json: bool   # read when an error happens: parsing may have set it meanwhile
    debug: bool
    failure_exit: int | None  # exec: any failure of vmctl or SSH exits with this (255), not its own code


def run_reporting(body: Callable[[], int | None], flags: Flags) -> int:
    """Run ``body``; its vmctl errors, a closed stdout and Ctrl-C become exit codes."""
    try:
        result = body()
        return result if isinstance(result, int) else 0
    except VmctlError as exc:
        if flags.debug:
            import traceback

            traceback.print_exc()
        error = exc.to_dict()
        if flags.failure_exit is not None:
            error["vmctl_exit_code"], error["exit_code"] = error["exit_code"], flags.failure_exit
        report_error(error, flags.json, one_line=getattr(flags, "json_lines", False))
        return int(error["exit_code"])  # type: ignore[call-overload]
    except OutputClosed:
        return closed_pipe()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (vmctl.errors.Interrupted)
        import signal

        signum = getattr(exc, "signum", signal.SIGINT)
        sys.stderr.write(f"interrupted ({signal.Signals(signum).name}); vmctl cleaned up after the operation\n")
        return getattr(exc, "exit_code", INTERRUPTED_EXIT)


def closed_pipe() -> int:
    """The reader of our output went away (``vmctl list | head -1``): end quietly.
    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE_EXIT
