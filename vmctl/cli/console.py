"""Joining the user's terminal to a console stream (raw mode, Ctrl-] to leave)."""

from __future__ import annotations

import os
import select
import sys
import termios
import tty

ESCAPE = b"\x1d"  # Ctrl-]


def bridge_console(console) -> None:
    """Copy stdin to the console and the console to stdout until Ctrl-] or EOF."""
    stdin = sys.stdin.fileno()
    is_tty = os.isatty(stdin)
    saved = termios.tcgetattr(stdin) if is_tty else None
    sys.stderr.write("connected to the console; Ctrl-] leaves\r\n")
    try:
        if is_tty:
            tty.setraw(stdin)
        stdin_open = True
        while True:
            data, is_open = console.read_available(0.05)
            if data:
                os.write(sys.stdout.fileno(), data)
            if not is_open:
                break
            if stdin_open and select.select([stdin], [], [], 0)[0]:
                chunk = os.read(stdin, 1024)
                if not chunk:
                    stdin_open = False  # piped input ended: keep showing output until the console closes
                elif ESCAPE in chunk:
                    before = chunk.split(ESCAPE, 1)[0]
                    if before:
                        console.send(before)
                    break
                else:
                    console.send(chunk)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        console.close()
        sys.stderr.write("\r\ndisconnected\r\n")
