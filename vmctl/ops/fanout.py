"""Running one action on several VMs at once, with bounded parallelism and prefixed output.

Each VM's action gets a :class:`LineSink`. Output is cut into whole lines per VM and
per stream and handed to ``write`` one line at a time (without the newline), under
one lock, so lines of different VMs never mix:

* stdout lines: ``"<name> | <line>"``
* stderr lines: ``"<name> ! <line>"``

Lines are decoded as UTF-8 (bad bytes replaced). Terminal control characters are
shown as ``?`` (tabs are kept) and a carriage return keeps only the text after it,
as a terminal would show it. A partial line longer than 64 KiB is written out as if
it ended there.

Exit status of a fan-out: 0 if every VM's action returned 0; otherwise the first
non-zero status in the order the names were given (not the order the VMs finished),
so the result is deterministic. A status outside 1..255 becomes 1 so it is never
mistaken for success by the shell.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vmctl.errors import InvalidInput, VmctlError, exit_code_for

MAX_PARALLEL = 32
CANCEL_GRACE = 1.5  # seconds an interrupted fan-out waits for its workers to stop
MAX_PARTIAL_LINE = 64 * 1024
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class VmOutcome:
    """How the action went on one VM; ``error`` is set when it raised (then
    ``exit_status`` is vmctl's own exit code for that error, not a guest's)."""

    name: str
    exit_status: int
    error: str | None = None

    @property
    def vmctl_failed(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class FanOutSummary:
    """The outcomes, in the order the names were given."""

    outcomes: tuple[VmOutcome, ...]

    @property
    def failed(self) -> list[str]:
        """Names of the VMs whose action did not return 0."""
        return [o.name for o in self.outcomes if o.exit_status != 0]

    @property
    def vmctl_failed(self) -> bool:
        """vmctl itself (or the SSH transport) failed for some VM, as opposed to a guest
        command returning non-zero."""
        return any(o.vmctl_failed for o in self.outcomes)

    @property
    def exit_status(self) -> int:
        """0 if all succeeded, else the first non-zero status in name order (1..255)."""
        for outcome in self.outcomes:
            if outcome.exit_status != 0:
                return outcome.exit_status if 1 <= outcome.exit_status <= 255 else 1
        return 0


class LineSink:
    """Per-VM output buffer: emits complete lines, prefixed with the VM's name, via ``write``."""

    def __init__(self, name: str, write: Callable[[str], None], lock: threading.Lock | None = None) -> None:
        self.name = name
        self._write = write
        self._lock = lock or threading.Lock()
        self._buffers = {"|": bytearray(), "!": bytearray()}
        self._on_cancel: list[Callable[[], object]] = []
        self.cancelled = threading.Event()

    def on_cancel(self, close: Callable[[], object]) -> None:
        """``close`` runs if the fan-out is interrupted (e.g. closes this VM's SSH session)."""
        self._on_cancel.append(close)
        if self.cancelled.is_set():
            close()

    def cancel(self) -> None:
        self.cancelled.set()
        for close in self._on_cancel:
            try:
                close()
            except Exception:  # noqa: BLE001 - best effort: the worker is abandoned anyway
                pass

    def out(self, data: bytes) -> None:
        """Add standard output bytes."""
        self._add("|", data)

    def err(self, data: bytes) -> None:
        """Add standard error bytes."""
        self._add("!", data)

    def flush(self) -> None:
        """Emit any unterminated last lines (stdout first, then stderr)."""
        with self._lock:
            for marker, buffer in self._buffers.items():
                if buffer:
                    self._emit(marker, bytes(buffer))
                    buffer.clear()

    def _add(self, marker: str, data: bytes) -> None:
        with self._lock:
            buffer = self._buffers[marker]
            buffer += data
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) <= MAX_PARTIAL_LINE:
                        break
                    end = MAX_PARTIAL_LINE
                    line = bytes(buffer[:end])
                    del buffer[:end]
                else:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                self._emit(marker, line)

    def _emit(self, marker: str, raw: bytes) -> None:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        text = text.rsplit("\r", 1)[-1]
        self._write(f"{self.name} {marker} {_CONTROL_RE.sub('?', text)}")


def fan_out(
    names: Sequence[str],
    action: Callable[[str, LineSink], int],
    *,
    parallel: int = 4,
    write: Callable[[str], None],
) -> FanOutSummary:
    """Run ``action(name, sink)`` for every name, at most ``parallel`` at a time.

    Errors never stop the other VMs: a VmctlError becomes that VM's outcome with its
    exit code and message; any other exception exit 1 with its type in the message.
    """
    if isinstance(parallel, bool) or not isinstance(parallel, int) or not 1 <= parallel <= MAX_PARALLEL:
        raise InvalidInput(f"invalid parallelism {parallel!r}", f"use a number from 1 to {MAX_PARALLEL}")
    if isinstance(names, str):
        raise InvalidInput("fan_out needs a list of VM names, not one string", "pass [name]")
    unique = list(dict.fromkeys(names))
    bad = [n for n in unique if not isinstance(n, str) or not n]
    if bad:
        raise InvalidInput(f"invalid VM name {bad[0]!r}", "give non-empty names")
    if not unique:
        raise InvalidInput("no VMs given", "name at least one VM")
    lock = threading.Lock()
    sinks = {name: LineSink(name, write, lock) for name in unique}
    outcomes: dict[str, VmOutcome] = {}
    pending = list(unique)

    def one(name: str) -> VmOutcome:
        sink = sinks[name]
        outcome = _guarded(name, lambda: action(name, sink))
        flushed = _guarded(name, lambda: sink.flush() or 0)
        return outcome if outcome.exit_status != 0 or flushed.exit_status == 0 else flushed

    def worker() -> None:
        while True:
            with lock:
                if not pending or sinks[pending[0]].cancelled.is_set():
                    return
                name = pending.pop(0)
            outcomes[name] = one(name)

    # Daemon threads, not a ThreadPoolExecutor: an interrupted fan-out must not wait at
    # exit for a worker stuck in a connect.
    threads = [threading.Thread(target=worker, name=f"vmctl-fanout-{i}", daemon=True)
               for i in range(min(parallel, len(unique)))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins: signals reach the main thread at once
    except BaseException:
        for sink in sinks.values():
            sink.cancel()
        deadline = time.monotonic() + CANCEL_GRACE
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        raise
    return FanOutSummary(tuple(outcomes[name] for name in unique))


def _guarded(name: str, call: Callable[[], int]) -> VmOutcome:
    """Call and turn the result, or any exception, into an outcome."""
    try:
        status = call()
    except VmctlError as exc:
        return VmOutcome(name, exit_code_for(exc), exc.message)
    except Exception as exc:  # noqa: BLE001 - one VM's failure must not stop the others
        return VmOutcome(name, 1, f"{type(exc).__name__}: {exc}")
    if isinstance(status, bool) or not isinstance(status, int):
        return VmOutcome(name, 1, f"internal error: the action returned {status!r}, not an exit status")
    return VmOutcome(name, status)


def format_summary(summary: FanOutSummary) -> list[str]:
    """A per-VM table: ``NAME  STATUS  DETAIL``; STATUS is ``ok``, ``exit N`` (the guest
    command's status) or ``vmctl error N`` (vmctl or SSH failed; N is vmctl's exit code)."""
    rows = [("NAME", "STATUS", "DETAIL")]
    for outcome in summary.outcomes:
        status = "ok" if outcome.exit_status == 0 else f"exit {outcome.exit_status}"
        if outcome.vmctl_failed:
            status = f"vmctl error {outcome.exit_status}"
        detail = _CONTROL_RE.sub("?", (outcome.error or "").strip().split("\n", 1)[0])
        rows.append((outcome.name, status, detail))
    widths = [max(len(row[col]) for row in rows) for col in (0, 1)]
    return [f"{n:<{widths[0]}}  {s:<{widths[1]}}  {d}".rstrip() for n, s, d in rows]
