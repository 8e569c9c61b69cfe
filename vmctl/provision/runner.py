"""Running a provisioning plan on a guest, in order, resuming after the last completed step.

The plan format and its validation live in :mod:`vmctl.provision_plan` (re-exported
here). This module only talks to the guest through the small :class:`GuestOps`
protocol and records progress through :class:`ProvisionState`.

Resume rule: steps are walked in order; a step whose key is in the saved list, with
every step before it also skipped, is skipped. From the first step that is new or
changed on, every step runs, and the saved list is rewritten as the keys of the
completed prefix after every step, so a crash or failure resumes at the right place.

Script steps run these commands in the guest: ``mkdir -p -m 0700 /tmp/vmctl-provision``,
an upload to ``/tmp/vmctl-provision/<key>.sh``, ``chmod 0700 <that file>``, and the file
itself (so its ``#!`` line chooses the interpreter) with the step's args and env.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from vmctl.errors import EXIT_CODES, GuestError, Timeout, VmctlError
from vmctl.provision.plan import DEFAULT_TIMEOUTS, REMOTE_SCRIPT_DIR, ProvisionPlan, Step

POLL_INTERVAL = 0.5
OUTPUT_TAIL_LINES = 20

Output = Callable[[bytes], None]
EventKind = Literal["start", "done", "skipped", "failed"]


class CommandOutcome(Protocol):
    """What a finished guest command reports."""

    exit_status: int

    def tail(self, lines: int = 20) -> str: ...


class GuestOps(Protocol):
    """The guest operations provisioning needs (implemented over SSH elsewhere)."""

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None,
        timeout: float | None,
        shell: bool = False,
        on_stdout: Output | None = None,
        on_stderr: Output | None = None,
    ) -> CommandOutcome: ...

    def put(self, local: Path, remote: str, *, recursive: bool) -> None: ...

    def reboot_and_wait(self, timeout: float) -> None: ...

    def file_exists(self, path: str) -> bool: ...

    def port_listening(self, port: int) -> bool: ...


class ProvisionState(Protocol):
    """Where the keys of completed steps are kept between runs."""

    def load(self) -> list[str]: ...

    def save(self, done: list[str]) -> None: ...


@dataclass(frozen=True)
class ProvisionEvent:
    """Progress for the CLI: a step started, finished, was skipped or failed."""

    step_index: int
    step_name: str
    kind: EventKind
    detail: str


@dataclass(frozen=True)
class ProvisionResult:
    """Names of the steps that ran and of those skipped as already done."""

    ran: list[str]
    skipped: list[str]


class StepFailed(GuestError):
    """A run or script step exited non-zero; the hint holds the output's tail."""

    def __init__(self, step: Step, command: str, exit_status: int, tail: str) -> None:
        message = f"step {step.index} ({step.name}) failed: {command} exited with status {exit_status}"
        tail = tail.rstrip("\n")
        hint = f"last output:\n{tail}" if tail.strip() else "the command printed nothing"
        super().__init__(message, hint + "\nfix the step and run again; completed steps are skipped")
        self.step_index = step.index
        self.step_name = step.name
        self.command = command
        self.exit_status = exit_status


def describe_step(step: Step) -> str:
    """A one-line description of what a step does (for events and errors)."""
    if step.kind == "run":
        if step.shell:
            lines = step.argv[0].strip().splitlines()
            more = " ..." if len(lines) > 1 else ""
            return f"shell: {lines[0] if lines else ''}{more}"
        return shlex.join(step.argv)
    if step.kind == "script":
        return f"script {shlex.join([step.local_rel, *step.args])}"
    if step.kind == "copy":
        return f"copy {step.local_rel} -> {step.dest}"
    if step.kind == "reboot":
        return "reboot"
    if step.kind == "wait_file":
        return f"wait for file {step.path}"
    return f"wait for port {step.port}"


def run_plan(
    plan: ProvisionPlan,
    guest: GuestOps,
    state: ProvisionState,
    *,
    on_event: Callable[[ProvisionEvent], None] | None = None,
    on_stdout: Output | None = None,
    on_stderr: Output | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = POLL_INTERVAL,
) -> ProvisionResult:
    """Run the plan's steps in order, skipping the completed prefix. Raises the first failure."""
    if not poll_interval > 0:
        raise ValueError("poll_interval must be more than 0")
    emit = on_event or (lambda event: None)
    saved = state.load()
    previous = set(saved)
    completed: list[str] = []
    ran: list[str] = []
    skipped: list[str] = []
    runner = _Runner(guest, on_stdout, on_stderr, sleep, clock, poll_interval)
    for step in plan.steps:
        if len(completed) == len(skipped) and step.key in previous:
            completed.append(step.key)
            skipped.append(step.name)
            emit(ProvisionEvent(step.index, step.name, "skipped", f"already done ({describe_step(step)})"))
            continue
        if not ran and completed != saved:
            state.save(list(completed))  # forget keys after the first changed step
        emit(ProvisionEvent(step.index, step.name, "start", describe_step(step)))
        started = clock()
        try:
            runner.run(step)
        except VmctlError as exc:
            error = exc if isinstance(exc, StepFailed) else _with_step(exc, step)
            emit(ProvisionEvent(step.index, step.name, "failed", error.message))
            if error is exc:
                raise
            raise error from exc
        except Exception as exc:
            emit(ProvisionEvent(step.index, step.name, "failed", f"{type(exc).__name__}: {exc}"))
            raise
        completed.append(step.key)
        ran.append(step.name)
        state.save(list(completed))
        emit(ProvisionEvent(step.index, step.name, "done", f"took {max(0.0, clock() - started):.1f}s"))
    if not ran and completed != saved:
        state.save(list(completed))
    return ProvisionResult(ran=ran, skipped=skipped)


def _with_step(exc: VmctlError, step: Step) -> VmctlError:
    """The same error with the step named in its message (for plain error classes)."""
    prefix = f"step {step.index} ({step.name})"
    if type(exc) not in EXIT_CODES or exc.message.startswith(prefix):
        return exc
    return type(exc)(f"{prefix}: {exc.message}", exc.hint)


@dataclass(frozen=True)
class _Runner:
    guest: GuestOps
    on_stdout: Output | None
    on_stderr: Output | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    interval: float

    def run(self, step: Step) -> None:
        if step.kind == "run":
            self._command(step, step.argv, describe_step(step), env=step.env_map, shell=step.shell)
        elif step.kind == "script":
            remote = step.remote_script
            self._command(step, ["mkdir", "-p", "-m", "0700", REMOTE_SCRIPT_DIR], quiet=True)
            assert step.local is not None
            self.guest.put(step.local, remote, recursive=False)
            self._command(step, ["chmod", "0700", remote], quiet=True)
            self._command(step, [remote, *step.args], describe_step(step), env=step.env_map)
        elif step.kind == "copy":
            assert step.local is not None
            self.guest.put(step.local, step.dest, recursive=step.recursive)
        elif step.kind == "reboot":
            self.guest.reboot_and_wait(_timeout(step))
        elif step.kind == "wait_file":
            self._poll(step, lambda: self.guest.file_exists(step.path), f"file {step.path} to exist")
        else:
            self._poll(step, lambda: self.guest.port_listening(step.port), f"port {step.port} to listen")

    def _command(
        self,
        step: Step,
        argv: Sequence[str],
        what: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        shell: bool = False,
        quiet: bool = False,
    ) -> None:
        outcome = self.guest.run(
            list(argv),
            env=dict(env) if env else None,
            timeout=_timeout(step),
            shell=shell,
            on_stdout=None if quiet else self.on_stdout,
            on_stderr=None if quiet else self.on_stderr,
        )
        if outcome.exit_status != 0:
            raise StepFailed(step, what or shlex.join(argv), outcome.exit_status, outcome.tail(OUTPUT_TAIL_LINES))

    def _poll(self, step: Step, check: Callable[[], bool], what: str) -> None:
        timeout = _timeout(step)
        deadline = self.clock() + timeout
        attempts = int(timeout / self.interval) + 2  # bounded even if the clock stands still
        for _ in range(attempts):
            if check():
                return
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            self.sleep(min(self.interval, remaining))
        raise Timeout(
            f"step {step.index} ({step.name}): timed out after {timeout:g}s waiting for {what}",
            "check the service in the guest, or raise the step's timeout",
        )


def _timeout(step: Step) -> float:
    return step.timeout if step.timeout is not None else DEFAULT_TIMEOUTS.get(step.kind, 600.0)
