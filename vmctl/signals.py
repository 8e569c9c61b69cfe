"""SIGINT, SIGTERM and SIGHUP as :class:`~vmctl.errors.Interrupted`, so an operation
unwinds (undoes what it made) whichever way it is stopped: Ctrl-C, a CI system
cancelling a job (SIGINT, then SIGTERM), a closed terminal (SIGHUP).

While undo work runs (:func:`deferred_signals`), further signals are held back,
so a second Ctrl-C cannot cut the clean-up short; if the block was not already
unwinding, the held signal is raised when it ends.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from vmctl.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_state = {"depth": 0, "held": 0, "raised": 0}


def _handler(signum: int, _frame: object) -> None:
    if _state["depth"]:
        _state["held"] = _state["held"] or signum
        return
    _state["raised"] = signum
    raise Interrupted(signum)


def raised_signal() -> int:
    """The signal last raised as Interrupted (0: none). A caller whose framework turns
    KeyboardInterrupt into a plain exit status (typer does: 130) finds out which it was."""
    return _state["raised"]


def handle_termination_signals() -> None:
    """Install the handlers (main thread only; elsewhere this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, _handler)


@contextmanager
def termination_unwinds() -> Iterator[None]:
    """For the Python API: while the block runs, SIGTERM and SIGHUP unwind it like Ctrl-C
    (main thread only, and only where the program left their default action, which would
    end it without unwinding); the program's own handling is back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    taken = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            taken[signum] = signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, previous in taken.items():
            signal.signal(signum, previous)


@contextmanager
def deferred_signals() -> Iterator[None]:
    unwinding = False
    _state["depth"] += 1
    try:
        yield
    except BaseException:
        unwinding = True
        raise
    finally:
        _state["depth"] -= 1
        if not _state["depth"]:
            held, _state["held"] = _state["held"], 0
            if held and not unwinding:
                _state["raised"] = held
                raise Interrupted(held)
