"""Commands over an open SSH channel: the command string, its streams, its result, a terminal.

No paramiko import: :mod:`vmctl.ssh` opens the channel and passes it in (anything with
paramiko's ``Channel`` methods). Command strings are built with ``shlex.join`` so that
every argument reaches the remote program literally; environment values never appear
in command strings (an env file carries them) or messages.
"""

from __future__ import annotations

import contextlib
import functools
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


# Environment values never travel in a command string (the guest's process list shows
# those): they go in a 0600 file that the command's shell reads, deletes, then execs.
SOURCE_ENV = '. "$0" && rm -f -- "$0" && exec "$@"'


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    if isinstance(argv, (str, bytes)):
        raise InvalidInput("run() takes a list of arguments", hint="use run_shell() for shell code")
    args = tuple(argv)
    if not args or not all(isinstance(a, str) and "\0" not in a for a in args):
        raise InvalidInput("a command is a non-empty list of strings without NUL characters")
    return args


def argv_command(argv: Sequence[str], env_file: str | None = None) -> tuple[tuple[str, ...], str]:
    """The checked argv and the remote command string (``shlex.join``); with ``env_file``
    a POSIX shell first sources that file (and removes it), then execs the argv."""
    args = check_argv(argv)
    if env_file is None:
        return args, shlex.join(args)
    return args, shlex.join(("sh", "-c", SOURCE_ENV, env_file, *args))


def shell_command(script: str, env_file: str | None = None) -> str:
    """The remote command string for shell code (the env file sourced and removed first)."""
    if "\0" in script:
        raise InvalidInput("a shell script may not contain NUL characters")
    if env_file is None:
        return script
    quoted = shlex.quote(env_file)
    return f". {quoted} && rm -f -- {quoted}\n{script}"


def env_file_content(env: Mapping[str, str]) -> bytes:
    """``export NAME='value'`` lines (names checked, values quoted, never echoed elsewhere)."""
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in _env_items(env)).encode()


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
    feed = feeder = StdinFeed(stdin) if stdin is not None else None
    pending = b""
    if feed is None:
        chan.shutdown_write()
    try:
        while True:
            busy = False
            for ready, recv, sink, callback in ((chan.recv_ready, chan.recv, out, on_stdout),
                                                (chan.recv_stderr_ready, chan.recv_stderr, err, on_stderr)):
                if ready() and (data := recv(CHUNK)):
                    busy = True
                    sink.append(data)
                    if callback is not None:
                        callback(data)
            if feed is not None and not pending:
                pending = feed.take()
                if feed.ended and not pending:
                    feed = None
                    with contextlib.suppress(OSError):
                        chan.shutdown_write()
            if pending and chan.send_ready():
                try:
                    pending = pending[chan.send(pending[:CHUNK]):]
                    busy = True
                except OSError:  # the command stopped reading: drop the rest, as a closed pipe would
                    pending, feed = b"", None
            output_over = (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready()
            if output_over and chan.exit_status_ready():
                return b"".join(out), b"".join(err), True
            if output_over and chan.closed and not _transport_active(chan):
                return b"".join(out), b"".join(err), True  # the connection is gone: no status will come
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return b"".join(out), b"".join(err), False
            wait = POLL if deadline is None else min(POLL, deadline - now)
            if busy:
                continue
            if output_over:
                chan.status_event.wait(wait)  # the exit status is on its way
            else:
                select.select([chan], [], [], 0.005 if pending else 0.02 if feed and feed.waiting else wait)
    finally:
        if feeder is not None:
            feeder.stop()


def _transport_active(chan: Any) -> bool:
    transport = chan.get_transport()
    return transport is not None and transport.is_active()


class StdinFeed:
    """A command's stdin, read as it comes and never waited for: a stream is read by a
    daemon thread into a bounded queue, so a pipe that stays open (or never writes)
    cannot hold up the command's output, its end or its deadline."""

    def __init__(self, stdin: bytes | BinaryIO) -> None:
        import queue
        import threading

        self.ended = False
        self._queue: "queue.Queue[bytes]" = queue.Queue(maxsize=8)
        self._stopped = threading.Event()
        if isinstance(stdin, (bytes, bytearray, memoryview)):
            self._chunks: Iterator[bytes] | None = _byte_chunks(bytes(stdin))
            return
        self._chunks = None
        threading.Thread(target=self._read, args=(stdin,), name="vmctl-stdin", daemon=True).start()

    @property
    def waiting(self) -> bool:
        return self._chunks is None and not self.ended

    def take(self) -> bytes:
        """The next chunk if one is there (b"" if not yet, or at the end: see ``ended``)."""
        import queue

        if self._chunks is not None:
            chunk = next(self._chunks, b"")
            self.ended = not chunk
            return chunk
        try:
            chunk = self._queue.get_nowait()
        except queue.Empty:
            return b""
        self.ended = not chunk
        return chunk

    def stop(self) -> None:
        self._stopped.set()

    def _read(self, stream: BinaryIO) -> None:
        import queue

        try:  # a file descriptor is read directly: a thread blocked in a buffered stream holds
            fd = stream.fileno()  # its lock, and closing the stream (or exiting) would wait for it
            read = functools.partial(os.read, fd)
        except (AttributeError, OSError, ValueError):
            read = getattr(stream, "read1", stream.read)
        try:
            while not self._stopped.is_set():
                chunk = read(CHUNK)
                while not self._stopped.is_set():
                    try:
                        self._queue.put(chunk or b"", timeout=POLL)
                        break
                    except queue.Full:
                        continue
                if not chunk:
                    return
        except (OSError, ValueError):  # closed under us: an end, as EOF
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(b"")


def _byte_chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start:start + CHUNK])


def _env_items(env: Mapping[str, str]) -> list[tuple[str, str]]:
    """Checked (name, value) pairs; values are never put in messages."""
    for name, value in env.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise InvalidInput(f"invalid environment variable name {name!r}",
                               hint="names match ^[A-Za-z_][A-Za-z0-9_]*$")
        if not isinstance(value, str) or "\0" in value:
            raise InvalidInput(f"the value of environment variable {name} must be a string without NUL")
    return list(env.items())
