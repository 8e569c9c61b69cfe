"""Rollback workflows: run something under a temporary snapshot, revert if it fails.

``run_with_rollback`` takes a snapshot, runs the command (on the host, or in the
guest), reverts if the command fails or is interrupted (Ctrl-C, SIGTERM), and
removes the temporary snapshot unless asked to keep it. ``Checkpoint`` is the
same as a context manager for Python: the block's exception reverts, and so do
Ctrl-C, SIGTERM and SIGHUP (where the program left them to their default action).
Both are built on the snapshot use cases (ops.snapshots, ops.revert), not on the API.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from contextlib import ExitStack

from vmctl.guest.access import GuestAccess
from vmctl.ops.guest import exec_one
from vmctl.ops.revert import revert_snapshot
from vmctl.ops.snapshots import create_snapshot, delete_snapshot
from vmctl.signals import deferred_signals, termination_unwinds
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

Say = Callable[[str], None]


@dataclass
class RollbackResult:
    vm: str
    snapshot: str
    exit_status: int | None       # the command's (None: interrupted or failed to run)
    reverted: bool
    kept: bool
    steps: list[str] = field(default_factory=list)


def temporary_name() -> str:
    return datetime.now(timezone.utc).strftime("rollback-%Y%m%d-%H%M%S-%f")


class Checkpoint:
    """``with Checkpoint(host, pool, guests, "web1"):`` - a snapshot now; reverted if the
    block raises (an exception, Ctrl-C, SIGTERM, SIGHUP); deleted at the end unless
    ``keep``."""

    def __init__(self, host: Host, pool: Pool, guests: GuestAccess, name: str, *, keep: bool = False,
                 snapshot: str | None = None, say: Say | None = None) -> None:
        self.host, self.pool, self.guests, self.name, self.keep = host, pool, guests, name, keep
        self.snapshot = snapshot or temporary_name()
        self.say = say or (lambda _text: None)
        self.reverted = False
        self._signals = ExitStack()

    def __enter__(self) -> "Checkpoint":
        self._signals.enter_context(termination_unwinds())
        try:
            create_snapshot(self.host, self.pool, self.name, self.snapshot, description="vmctl rollback point")
        except BaseException:
            self._signals.close()
            raise
        self.say(f"took snapshot {self.snapshot} of {self.name}")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        with self._signals, deferred_signals():  # a second Ctrl-C must not stop the rollback half way
            if exc is not None:
                revert_snapshot(self.host, self.pool, self.guests, self.name, self.snapshot)
                self.reverted = True
                self.say(f"reverted {self.name} to {self.snapshot} ({_why(exc)})")
            if not self.keep:
                delete_snapshot(self.host, self.pool, self.name, self.snapshot)
                self.say(f"removed snapshot {self.snapshot}")
            else:
                self.say(f"kept snapshot {self.snapshot}")


class CommandFailedStatus(Exception):
    """The command under rollback exited non-zero (carries its status)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"exit status {status}")
        self.status = status


def _why(exc: BaseException) -> str:
    if isinstance(exc, CommandFailedStatus):
        return f"the command exited with status {exc.status}"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


def run_on_host(argv: Sequence[str], say: Say) -> int:
    """Run a host command (no shell); a missing or non-executable program is status
    127 or 126, as a shell reports it."""
    try:
        return subprocess.run(list(argv), check=False).returncode
    except FileNotFoundError:
        say(f"{argv[0]}: command not found")
        return 127
    except PermissionError:
        say(f"{argv[0]}: permission denied")
        return 126


def run_with_rollback(host: Host, pool: Pool, guests: GuestAccess, name: str, argv: Sequence[str], *,
                      in_guest: bool = False, keep: bool = False, say: Say | None = None, out=None,
                      err=None) -> RollbackResult:
    """Run ``argv`` on the host (no shell) or in the guest under a temporary snapshot."""
    steps: list[str] = []

    def note(text: str) -> None:
        steps.append(text)
        if say:
            say(text)
    point = Checkpoint(host, pool, guests, name, keep=keep, say=note)
    status: int | None = None
    try:
        with point:
            note(f"running {shlex.join(argv)} {'in ' + name if in_guest else 'on the host'}")
            status = (exec_one(guests, name, list(argv), out=out, err=err).exit_status if in_guest
                      else run_on_host(argv, note))
            if status != 0:
                raise CommandFailedStatus(status)
    except CommandFailedStatus:
        pass
    return RollbackResult(name, point.snapshot, status, point.reverted, keep, steps)
