"""Fan-out: bounded parallelism, prefixed lines that never interleave, error mapping, summary."""

from __future__ import annotations

import threading
import time

import pytest

from vmctl.errors import InvalidInput, NotFound, Timeout
from vmctl.ops.fanout import FanOutSummary, LineSink, VmOutcome, fan_out, format_summary


class Lines:
    """A thread-safe-enough ``write`` that also checks no two writes overlap."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.inside = 0
        self.overlaps = 0

    def __call__(self, line: str) -> None:
        self.inside += 1
        if self.inside > 1:
            self.overlaps += 1
        time.sleep(0)  # invite a thread switch mid-write
        self.lines.append(line)
        self.inside -= 1


def test_parallelism_is_bounded() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def action(name: str, sink: LineSink) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return 0

    summary = fan_out([f"vm{i}" for i in range(12)], action, parallel=3, write=Lines())
    assert state["peak"] == 3
    assert summary.exit_status == 0 and summary.failed == []


def test_parallelism_limits() -> None:
    for bad in (0, 33, -1, True, 2.0):
        with pytest.raises(InvalidInput):
            fan_out(["a"], lambda n, s: 0, parallel=bad, write=Lines())  # type: ignore[arg-type]
    assert fan_out(["a"], lambda n, s: 0, parallel=32, write=Lines()).exit_status == 0
    with pytest.raises(InvalidInput):
        fan_out([], lambda n, s: 0, write=Lines())
    with pytest.raises(InvalidInput):
        fan_out("abc", lambda n, s: 0, write=Lines())


def test_names_are_deduplicated_in_order() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def action(name: str, sink: LineSink) -> int:
        with lock:
            calls.append(name)
        return 0

    summary = fan_out(["b", "a", "b", "c", "a"], action, parallel=1, write=Lines())
    assert calls == ["b", "a", "c"]
    assert [o.name for o in summary.outcomes] == ["b", "a", "c"]


def test_lines_are_prefixed_and_never_interleave() -> None:
    write = Lines()
    names = [f"vm{i}" for i in range(8)]

    def action(name: str, sink: LineSink) -> int:
        for i in range(50):
            text = f"line {i} of {name} " + "x" * (i % 7) + "\n"
            data = text.encode()
            for start in range(0, len(data), 3):  # partial chunks
                sink.out(data[start:start + 3])
                if start % 2:
                    time.sleep(0)
            sink.err(f"warn {i}\n".encode())
        sink.out(b"no newline at the end")
        return 0

    fan_out(names, action, parallel=8, write=write)
    assert write.overlaps == 0
    for name in names:
        out = [ln for ln in write.lines if ln.startswith(f"{name} | ")]
        err = [ln for ln in write.lines if ln.startswith(f"{name} ! ")]
        assert out == [f"{name} | line {i} of {name} " + "x" * (i % 7) for i in range(50)] + [
            f"{name} | no newline at the end"
        ]
        assert err == [f"{name} ! warn {i}" for i in range(50)]
    assert len(write.lines) == len(names) * 101


def test_sink_decoding_and_control_characters() -> None:
    write = Lines()
    sink = LineSink("vm", write)
    sink.out("é".encode()[:1])
    sink.out("é".encode()[1:] + b"\r\n")
    sink.out(b"10%\r50%\r100%\n\x1b[31mred\x1b[0m\ttab\n\xff\n")
    sink.flush()
    sink.flush()
    assert write.lines == ["vm | é", "vm | 100%", "vm | ?[31mred?[0m\ttab", "vm | \ufffd"]


def test_sink_splits_overlong_partial_lines() -> None:
    write = Lines()
    sink = LineSink("vm", write)
    sink.out(b"y" * (64 * 1024 + 10))
    assert write.lines == ["vm | " + "y" * (64 * 1024)]
    sink.flush()
    assert write.lines[-1] == "vm | " + "y" * 10


def test_errors_become_outcomes() -> None:
    def action(name: str, sink: LineSink) -> int:
        sink.out(b"partial")
        if name == "missing":
            raise NotFound("domain 'missing' not found", "list the VMs")
        if name == "slow":
            raise Timeout("ssh timed out")
        if name == "buggy":
            raise KeyError("oops")
        if name == "weird":
            return None  # type: ignore[return-value]
        return 5 if name == "five" else 0

    write = Lines()
    summary = fan_out(["ok", "missing", "slow", "buggy", "five", "weird"], action, write=write)
    assert summary.outcomes == (
        VmOutcome("ok", 0, None),
        VmOutcome("missing", 4, "domain 'missing' not found"),
        VmOutcome("slow", 9, "ssh timed out"),
        VmOutcome("buggy", 1, "KeyError: 'oops'"),
        VmOutcome("five", 5, None),
        VmOutcome("weird", 1, "internal error: the action returned None, not an exit status"),
    )
    assert summary.failed == ["missing", "slow", "buggy", "five", "weird"]
    assert summary.exit_status == 4
    assert sorted(write.lines) == sorted(f"{n} | partial" for n in ("ok", "missing", "slow", "buggy", "five", "weird"))


def test_a_failing_write_does_not_stop_the_others() -> None:
    def write(line: str) -> None:
        if line.startswith("bad"):
            raise OSError("broken pipe")

    def action(name: str, sink: LineSink) -> int:
        sink.out(b"unterminated")
        return 0

    summary = fan_out(["bad", "good"], action, write=write)
    assert summary.outcomes == (VmOutcome("bad", 1, "OSError: broken pipe"), VmOutcome("good", 0))


def test_exit_status_rules() -> None:
    assert FanOutSummary(()).exit_status == 0
    assert FanOutSummary((VmOutcome("a", 0), VmOutcome("b", 0))).exit_status == 0
    assert FanOutSummary((VmOutcome("a", 0), VmOutcome("b", 7), VmOutcome("c", 3))).exit_status == 7
    assert FanOutSummary((VmOutcome("a", 256), VmOutcome("b", 3))).exit_status == 1
    assert FanOutSummary((VmOutcome("a", -9),)).exit_status == 1


def test_format_summary() -> None:
    summary = FanOutSummary(
        (
            VmOutcome("web-1", 0),
            VmOutcome("database", 4, "domain 'database' not found\nsecond line"),
            VmOutcome("x", 2),
        )
    )
    # vmctl's own failure (here: not found, its exit code 4) and a guest status stay apart.
    assert format_summary(summary) == [
        "NAME      STATUS         DETAIL",
        "web-1     ok",
        "database  vmctl error 4  domain 'database' not found",
        "x         exit 2",
    ]
    assert summary.vmctl_failed and not FanOutSummary((VmOutcome("x", 2),)).vmctl_failed


def test_interrupt_cancels_workers_and_returns_quickly() -> None:
    """Ctrl-C (or SIGTERM) while VMs run: each VM's cancel hook runs, the workers stop,
    and the interrupt reaches the caller within the grace period."""
    import _thread
    import threading
    import time

    closed: list[str] = []

    def action(name: str, sink: LineSink) -> int:
        stop = threading.Event()
        sink.on_cancel(lambda: (closed.append(name), stop.set()))
        stop.wait(30)  # a long guest command, until its session is closed
        return 0

    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fan_out(["a", "b", "c"], action, parallel=2, write=lambda _line: None)
    assert time.monotonic() - started < 2.0
    assert sorted(closed) == ["a", "b"]  # the two running ones; "c" never started
