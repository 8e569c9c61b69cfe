"""A pty session joined to the user's terminal (``vmctl ssh``): raw mode, resize, exit status."""

from __future__ import annotations

import os
import select
import termios
import tty
from typing import Any

from vmctl.ssh.runner import CHUNK


def bridge_terminal(chan: Any, in_fd: int, out_fd: int) -> int:
    """Join a pty channel to ``in_fd``/``out_fd`` (raw mode if a tty, restored after); its exit status."""
    saved = termios.tcgetattr(in_fd) if os.isatty(in_fd) else None
    try:
        if saved is not None:
            tty.setraw(in_fd)
        return _bridge(chan, in_fd, out_fd)
    finally:
        if saved is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)


def terminal_size(fd: int) -> tuple[int, int]:
    """Columns and lines of the terminal on ``fd``, 80x24 if it is none."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return 80, 24
    return size.columns, size.lines


def _bridge(chan: Any, in_fd: int, out_fd: int) -> int:
    stdin_open = True
    size = terminal_size(out_fd)
    while True:
        readable = select.select([chan, in_fd] if stdin_open else [chan], [], [], 0.2)[0]
        for ready, recv in ((chan.recv_ready, chan.recv), (chan.recv_stderr_ready, chan.recv_stderr)):
            if ready():
                _write_all(out_fd, recv(CHUNK))
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            break
        if stdin_open and in_fd in readable:
            data = os.read(in_fd, 4096)
            if data:
                chan.sendall(data)
            else:  # piped input ended: keep showing output until the remote side closes
                stdin_open = False
                chan.shutdown_write()
        if (new_size := terminal_size(out_fd)) != size:
            size = new_size
            chan.resize_pty(width=size[0], height=size[1])
    chan.status_event.wait(10.0)
    return chan.exit_status if chan.exit_status_ready() else -1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
