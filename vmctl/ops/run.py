"""``vmctl run``: an ephemeral VM for one CI step.

    sweep dead runs -> plan (reads only) -> volumes + seed (recorded)
    -> transient domain, started paused with AUTODESTROY -> console attached, resumed
    -> boot marker -> SSH (pinned key) -> [upload script] -> command, output streamed
    -> collect artefacts -> [failure bundle] -> destroy, volumes removed

The domain is transient and bound to this process's libvirt connection: if vmctl
is SIGKILLed, libvirt destroys the guest when the connection drops, and the
volumes stay recorded in the run's intent record, so the next ``vmctl run`` (or
``vmctl gc``) removes them. Ctrl-C, SIGTERM and errors unwind in-process.
"""

from __future__ import annotations

import posixpath
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vmctl.errors import INTERRUPTED_EXIT, GuestError, Interrupted, NotFound, Timeout, VmctlError
from vmctl.guest.access import GuestAccess
from vmctl.guest.boot import check_console_fingerprint
from vmctl.guest.consolelog import ConsoleLog
from vmctl.local.hostspeed import measured_slowdown
from vmctl.local.testhooks import checkpoint
from vmctl.ops.bundle import Bundle, bundle_dir, guest_logs, write_bundle
from vmctl.ops.create import CreatePlan, make_volumes, plan_create
from vmctl.ops.safety.operation import Operation
from vmctl.ops.safety.repair import sweep
from vmctl.ops.vms import info_of, resume_watched
from vmctl.policy.timeouts import boot_timeout, ready_timeout
from vmctl.signals import deferred_signals
from vmctl.spec.run import EPHEMERAL, GUEST_SCRIPT, KEPT, RUN_LABEL, RunRequest
from vmctl.ssh.keys import fingerprint
from vmctl.virt import domains
from vmctl.spec.events import LifecycleEvent
from vmctl.virt.domains import Domain
from vmctl.virt.events import watch_lifecycle
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

Writer = Callable[[bytes], None]
CANCEL_LOG_BUDGET = 0.5   # seconds for guest logs after Ctrl-C/SIGTERM: the whole clean-up must fit in 2 s
FAILURE_LOG_BUDGET = 10.0  # after a failed or timed-out command


@dataclass(frozen=True)
class RunEvent:
    time: float
    stage: str
    detail: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"time": round(self.time, 3), "event": self.stage, **self.detail}


@dataclass(frozen=True)
class RunResult:
    name: str
    outcome: str                 # succeeded, failed, timeout, cancelled, error
    exit_status: int | None      # the guest command's; None when it did not finish
    stages: dict[str, float]     # stage -> seconds since the run began
    collected: tuple[str, ...] = ()
    bundle: str | None = None
    kept: bool = False
    error: dict[str, object] | None = None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "outcome": self.outcome, "exit_status": self.exit_status,
                "stages": {k: round(v, 3) for k, v in self.stages.items()}, "collected": list(self.collected),
                "bundle": self.bundle, "kept": self.kept, "error": self.error}


class RunFailed(Exception):
    """Carries the result of a run that ended in a vmctl error or a signal, with the
    original exception; raised after the clean-up."""

    def __init__(self, result: RunResult, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.result, self.cause = result, cause


def run_labels(req: RunRequest) -> RunRequest:
    """The run's marks: what kind of run VM it is, and since when (for `gc --older-than`)."""
    labels = dict(req.create.labels)
    labels[RUN_LABEL] = KEPT if req.keep_on_failure else EPHEMERAL
    labels[f"{RUN_LABEL}-started"] = str(int(time.time()))
    return replace(req, create=replace(req.create, labels=tuple(sorted(labels.items()))))


class Run:
    """One run: its events, console log and stage timings."""

    def __init__(self, host: Host, pool: Pool, access: GuestAccess, req: RunRequest, *,
                 on_event: Callable[[RunEvent], object] | None = None, out: Writer | None = None,
                 err: Writer | None = None) -> None:
        self.host, self.pool, self.access, self.req = host, pool, access, run_labels(req)
        self.on_event, self.out, self.err = on_event, out, err
        self.events: list[RunEvent] = []
        self.console = ConsoleLog()
        self.began = time.monotonic()
        self.stages: dict[str, float] = {}
        self.dom: Domain | None = None
        self.session = None
        self.collected: list[str] = []
        self.lifecycle: "queue.Queue[LifecycleEvent] | None" = None

    def emit(self, stage: str, **detail: object) -> None:
        event = RunEvent(time.time(), stage, detail)
        self.events.append(event)
        self.stages[stage] = time.monotonic() - self.began
        if self.on_event is not None:
            self.on_event(event)

    def execute(self) -> RunResult:
        """Run to the end; the VM and its volumes are gone afterwards (unless kept).
        Raises RunFailed for vmctl's own failures and signals, after cleaning up."""
        removed = sweep(self.host, self.pool)
        if removed:
            self.emit("swept", removed=[f.to_dict() for f in removed])
        plan = plan_create(self.host, self.pool, self.req.create)
        self.emit("planned", name=self.req.name, image=plan.image.name, accel=plan.spec.accel.value)
        with watch_lifecycle(self.host, self.req.name) as self.lifecycle, \
                Operation(self.host, self.pool, "run", self.req.name) as op:
            op.undo_on_exit()
            status, failure = None, None
            try:
                status = self._body(op, plan)
            except (VmctlError, KeyboardInterrupt) as exc:
                failure = exc
            with deferred_signals():  # a second Ctrl-C must not cut the bundle or the clean-up short
                result = self._finish(op, status, failure)
        self.emit("cleaned-up", kept=result.kept)
        result = replace(result, stages=dict(self.stages))
        if failure is not None:
            raise RunFailed(result, failure)
        return result

    def _body(self, op: Operation, plan: CreatePlan) -> int:
        req = self.req
        slowdown = measured_slowdown(plan.spec.accel.value) if self.host.is_local else None
        make_volumes(op, self.host, self.pool, plan)
        op.will("domain", req.name, plan.spec.uuid or "")
        self.dom = domains.create_transient(self.host, plan.xml, autodestroy=not req.keep_on_failure)
        op.on_undo(self.dom.destroy)
        checkpoint("run:created")
        console = self.dom.open_console()
        op.on_undo(self.console.stop)
        op.on_undo(console.close)
        seconds, tail = resume_watched(self.dom, console, plan.image.boot_marker,
                                       req.create.boot_timeout or boot_timeout(plan.spec.accel, slowdown),
                                       record=self.console.add)
        self.console.follow(console)
        check_console_fingerprint(tail, fingerprint(plan.host_key.public_line), req.name)
        self.emit("booted", seconds=seconds)
        checkpoint("run:booted")
        ready = self.access.wait(req.name, until="ssh", timeout=req.ready_timeout or ready_timeout(plan.spec.accel, slowdown))
        self.session = ready.session
        self.emit("ssh-ready")
        if req.script is not None:
            self.session.put(req.script, GUEST_SCRIPT)
            self.session.run(("chmod", "0700", GUEST_SCRIPT), check=True, timeout=30)
        self.emit("command-started", argv=list(req.guest_argv()))
        checkpoint("run:command")
        try:
            result = self.session.run(req.guest_argv(), env=req.env or None, timeout=req.timeout,
                                      on_stdout=self.out, on_stderr=self.err)
        finally:
            self._collect()
        self.emit("command-finished", exit_status=result.exit_status)
        return result.exit_status

    def _collect(self) -> None:
        """Copy the artefacts back, whatever the command's outcome (a missing one is noted)."""
        if self.session is None:
            return
        for item in self.req.collect:
            local = item.host_dir / (posixpath.basename(item.guest_path.rstrip("/")) or "root")
            try:
                item.host_dir.mkdir(parents=True, exist_ok=True)
                self.session.get(item.guest_path, local, recursive=True)
            except (NotFound, GuestError, OSError) as exc:
                self.emit("collect-failed", guest_path=item.guest_path, reason=getattr(exc, "message", str(exc)))
                continue
            self.collected.append(str(local))
            self.emit("collected", guest_path=item.guest_path, to=str(local))

    def _finish(self, op: Operation, status: int | None, failure: BaseException | None) -> RunResult:
        outcome = _outcome(status, failure)
        error = failure.to_dict() if isinstance(failure, VmctlError) else None
        if isinstance(failure, KeyboardInterrupt):
            code = getattr(failure, "exit_code", INTERRUPTED_EXIT)
            error = {"code": "interrupted", "exit_code": code, "message": "cancelled by a signal", "hint": ""}
        result = RunResult(self.req.name, outcome, status, dict(self.stages), tuple(self.collected), error=error)
        if outcome == "succeeded":
            self._close_session()
            return result
        self.emit(outcome, exit_status=status, error=error)
        if self.req.artifacts is not None:
            path = bundle_dir(self.req.artifacts, self.req.name)
            result = replace(result, bundle=str(path))
            bundle = self._bundle(result, CANCEL_LOG_BUDGET if outcome == "cancelled" else FAILURE_LOG_BUDGET)
            self.emit("bundle-written", path=str(bundle.path), files=list(bundle.files))
        self._close_session()
        if self.req.keep_on_failure and self.dom is not None and outcome != "cancelled":
            self.dom.make_persistent()
            op.commit()  # nothing is undone: the VM stays for debugging (`vmctl delete` or `vmctl gc`)
            result = replace(result, kept=True)
        return result

    def _lifecycle_events(self) -> None:
        """What libvirt reported so far (started, suspended, stopped, crashed...), into the run's events."""
        while self.lifecycle is not None:
            try:
                seen = self.lifecycle.get_nowait()
            except queue.Empty:
                return
            event = RunEvent(seen.time, "libvirt", {"domain_event": seen.event, "detail": seen.detail})
            self.events.append(event)
            if self.on_event is not None:
                self.on_event(event)

    def _bundle(self, result: RunResult, budget: float) -> Bundle:
        self._lifecycle_events()
        logs = guest_logs(self.session, time.monotonic() + budget)
        info = None
        if self.dom is not None:
            try:
                info = info_of(self.host, self.dom).to_dict()
            except VmctlError as exc:
                info = {"error": exc.message}
        return write_bundle(self.req.artifacts, self.req.name, result=result.to_dict(),  # type: ignore[arg-type]
                            console=self.console.text(), info=info,
                            events=[e.to_dict() for e in self.events], guest_logs=logs)

    def _close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None


def _outcome(status: int | None, failure: BaseException | None) -> str:
    if isinstance(failure, (KeyboardInterrupt, Interrupted)):
        return "cancelled"
    if isinstance(failure, Timeout) and status is None:
        return "timeout"
    if failure is not None:
        return "error"
    return "succeeded" if status == 0 else "failed"
