"""Commands over an open SSH channel: the command string, its streams, its result, a terminal.

No paramiko import: :mod:`vmctl.ssh` opens the channel and passes it in (anything with
paramiko's ``Channel`` methods). Command strings are built with ``shlex.join`` so that
every argument reaches the remote program literally; environment values never appear
in messages.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from vmctl.errors import GuestError, InvalidInput

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CHUNK = 32768
POLL = 0.05  # longest wait between checks of a running command
Callback = Callable[[bytes], None]


@dataclass(frozen=True)
class CommandResult:
    """What a remote command did."""

    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes
    duration: float

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of stdout followed by stderr, decoded with replacement."""
        parts = [s.decode("utf-8", "replace").rstrip("\n") for s in (self.stdout, self.stderr) if s.strip()]
        return "\n".join("\n".join(parts).splitlines()[-lines:]) if lines > 0 else ""


class CommandFailed(GuestError):
    """A remote command exited non-zero (with ``check=True``) or without an exit status."""

    def __init__(self, result: CommandResult, message: str | None = None) -> None:
        self.result = result
        tail = result.tail()
        super().__init__(message or f"command {display(result.argv)} exited with status {result.exit_status}",
                         hint=f"last output:\n{tail}" if tail else "the command printed nothing")


def argv_command(argv: Sequence[str], env: Mapping[str, str] | None) -> tuple[tuple[str, ...], str]:
    """The checked argv and the remote command string: ``shlex.join``, after ``env -- K=V`` if any."""
    if isinstance(argv, (str, bytes)):
        raise InvalidInput("run() takes a list of arguments", hint="use run_shell() for shell code")
    args = tuple(argv)
    if not args or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise InvalidInput("a command is a non-empty list of strings without NUL characters")
    assignments = _env_assignments(env)
    if not assignments:
        return args, shlex.join(args)
    if "=" in args[0]:
        raise InvalidInput(f"command name {args[0]!r} contains '='", hint="env would take it for a variable")
    # "env K=V -- cmd" fails with GNU and busybox env ("--" after an assignment is the command);
    # "env -- K=V cmd" works with both.
    return args, shlex.join(("env", "--", *assignments, *args))


def shell_command(script: str, env: Mapping[str, str] | None) -> str:
    """The remote command string for shell code (``export`` first when ``env`` is given)."""
    if "\0" in script:
        raise InvalidInput("a shell script may not contain NUL characters")
    assignments = _env_assignments(env)
    return f"export {' '.join(shlex.quote(a) for a in assignments)}\n{script}" if assignments else script


def display(argv: Sequence[str]) -> str:
    """A one-line rendering of a command for messages."""
    text = shlex.join(argv).replace("\n", "\\n")
    return text if len(text) <= 200 else text[:199] + "…"


def pump(chan: Any, stdin: bytes | BinaryIO | None, deadline: float | None,
         on_stdout: Callback | None, on_stderr: Callback | None) -> tuple[bytes, bytes, bool]:
    """Feed stdin and read both streams as they come until the command ends.

    Returns stdout, stderr and whether it ended (False: the deadline passed first). Never
    blocks on one stream while the other fills, so large outputs cannot deadlock.
    """
    out: list[bytes] = []
    err: list[bytes] = []
    chunks = _stdin_chunks(stdin) if stdin is not None else None
    pending = b""
    if chunks is None:
        chan.shutdown_write()
    while True:
        busy = False
        for ready, recv, sink, callback in ((chan.recv_ready, chan.recv, out, on_stdout),
                                            (chan.recv_stderr_ready, chan.recv_stderr, err, on_stderr)):
            if ready() and (data := recv(CHUNK)):
                busy = True
                sink.append(data)
                if callback is not None:
                    callback(data)
        if chunks is not None and not pending:
            pending = next(chunks, b"")
            if not pending:
                chunks = None
                with contextlib.suppress(OSError):
                    chan.shutdown_write()
        if pending and chan.send_ready():
            try:
                pending = pending[chan.send(pending[:CHUNK]):]
                busy = True
            except OSError:  # the command stopped reading: drop the rest, as a closed pipe would
                pending, chunks = b"", None
        output_over = (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready()
        if output_over and chan.exit_status_ready():
            return b"".join(out), b"".join(err), True
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return b"".join(out), b"".join(err), False
        wait = POLL if deadline is None else min(POLL, deadline - now)
        if busy:
            continue
        if output_over:
            chan.status_event.wait(wait)  # the exit status is on its way
        else:
            select.select([chan], [], [], 0.005 if pending else wait)


def _stdin_chunks(stdin: bytes | BinaryIO) -> Iterator[bytes]:
    if isinstance(stdin, (bytes, bytearray, memoryview)):
        view = memoryview(stdin)
        for start in range(0, len(view), CHUNK):
            yield bytes(view[start:start + CHUNK])
        return
    while chunk := stdin.read(CHUNK):
        yield chunk


def _env_assignments(env: Mapping[str, str] | None) -> tuple[str, ...]:
    """``K=V`` words; names are checked, values are never echoed."""
    if not env:
        return ()
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise InvalidInput(f"invalid environment variable name {name!r}",
                               hint="names match ^[A-Za-z_][A-Za-z0-9_]*$")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInput(f"the value of environment variable {name} must be a string without NUL")
    return tuple(f"{name}={value}" for name, value in env.items())
