"""Waiting until a guest is reachable, through named stages.

domain running -> address known -> port open -> SSH banner -> authenticated
-> boot finished. On timeout the error names the last stage reached, so
"waiting for an IP" never hangs silently. Clock and sleep are injected for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from vmctl.errors import GuestError, HostKeyMismatch, Timeout

STAGES = ("domain running", "address known", "port open", "SSH banner", "authenticated", "boot finished")
HINTS = {
    "domain running": "start it with `vmctl start NAME`",
    "address known": "the guest has no address yet: check its network configuration",
    "port open": "nothing listens on the guest's SSH port yet: is the guest still booting? see `vmctl console NAME`",
    "SSH banner": "something accepts connections but does not speak SSH yet",
    "authenticated": "the guest refuses vmctl's key: was the VM created by vmctl, with this --ssh-key?",
    "boot finished": "SSH works but the guest has not finished booting (cloud-init still running?)",
}
E = TypeVar("E")  # endpoint
S = TypeVar("S")  # session


class Probe(Protocol[E, S]):
    def running(self) -> bool: ...
    def endpoint(self) -> E | None: ...
    def port_open(self, endpoint: E) -> bool: ...
    def banner(self, endpoint: E) -> bool: ...
    def authenticate(self, endpoint: E) -> S: ...          # raises GuestError while not yet possible
    def boot_finished(self, session: S) -> bool: ...


@dataclass
class Readiness(Generic[E, S]):
    endpoint: E
    session: S
    stages: dict[str, float] = field(default_factory=dict)  # stage -> seconds since start

    def to_dict(self) -> dict[str, object]:
        return {"stages": {k: round(v, 3) for k, v in self.stages.items()}}


def wait_ready(probe: Probe[E, S], *, until: str, timeout: float, name: str, interval: float = 0.5,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep,
               on_stage: Callable[[str, float], object] | None = None) -> Readiness[E, S]:
    """Walk the stages up to ``until`` ('ssh' = authenticated, 'boot' = boot finished);
    ``on_stage(stage, seconds)`` hears of each stage as it is reached."""
    last = STAGES.index("authenticated" if until == "ssh" else "boot finished")
    start = clock()
    deadline = start + timeout
    reached: dict[str, float] = {}
    endpoint: E | None = None
    session: S | None = None
    last_error = ""
    while True:
        try:
            stage = STAGES[len(reached)]
            done = False
            if stage == "domain running":
                done = probe.running()
            elif stage == "address known":
                endpoint = probe.endpoint()
                done = endpoint is not None
            elif stage == "port open":
                done = probe.port_open(endpoint)  # type: ignore[arg-type]
            elif stage == "SSH banner":
                done = probe.banner(endpoint)  # type: ignore[arg-type]
            elif stage == "authenticated":
                session = probe.authenticate(endpoint)  # type: ignore[arg-type]
                done = True
            else:
                done = probe.boot_finished(session)
            if done:
                reached[stage] = clock() - start
                if on_stage is not None:
                    on_stage(stage, reached[stage])
                if len(reached) > last:
                    return Readiness(endpoint, session, reached)  # type: ignore[arg-type]
                continue
        except HostKeyMismatch:
            raise  # never retried: a changed key is an alarm, not a delay
        except GuestError as exc:
            last_error = exc.message
        if clock() >= deadline:
            close = getattr(session, "close", None)
            if close is not None:
                close()
            waiting = STAGES[len(reached)]
            got = f"last stage reached: {list(reached)[-1]}" if reached else "no stage reached"
            detail = f" ({last_error})" if last_error else ""
            raise Timeout(f"{name} not ready after {timeout:.0f} s: waiting for '{waiting}', {got}{detail}",
                          hint=HINTS[waiting])
        sleep(min(interval, max(0.0, deadline - clock())))
