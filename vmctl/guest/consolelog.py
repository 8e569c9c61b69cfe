"""A guest's serial console kept as a log while it runs (the failure bundle's
``console.log``): the boot output first, then whatever the guest prints later.

Only the newest ``limit`` bytes are kept: a chatty guest must not grow vmctl's
memory without bound.
"""

from __future__ import annotations

import threading
from collections import deque


class ConsoleLog:
    """Bytes read from a console, newest ``limit`` bytes kept; thread-safe."""

    def __init__(self, limit: int = 256 * 1024) -> None:
        self.limit = limit
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, data: bytes) -> None:
        with self._lock:
            self._chunks.append(data)
            self._size += len(data)
            while self._size > self.limit:
                excess = self._size - self.limit
                first = self._chunks[0]
                if len(first) <= excess:
                    self._chunks.popleft()
                    self._size -= len(first)
                else:
                    self._chunks[0] = first[excess:]
                    self._size -= excess

    def text(self) -> str:
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", "replace").replace("\r\n", "\n")

    def follow(self, console) -> None:
        """Keep reading ``console`` (a ConsoleStream) in a daemon thread until it
        closes or :meth:`stop` is called."""
        def loop() -> None:
            while not self._stop.is_set():
                data, is_open = console.read_available(0.5)
                if data:
                    self.add(data)
                if not is_open:
                    return

        self._thread = threading.Thread(target=loop, name="vmctl-console-log", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
