"""vmctl.netns: sockets opened inside a network namespace this test creates (needs root).

Traffic goes only to 127.0.0.1 inside that namespace (which has nothing but lo),
or nowhere (no route)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from vmctl.errors import GuestError, InvalidInput, NotFound, Timeout
from vmctl.testing.netns import connect_in_netns

# Echo server: prints its ports and its netns inode, echoes on one port, and keeps a
# second port's accept queue full (listen(0), never accepted) so connects there time out.
SERVER = r"""
import json, os, socket, sys, time
echo = socket.socket(); echo.bind(("127.0.0.1", 0)); echo.listen(4); echo.settimeout(1.0)
full = socket.socket(); full.bind(("127.0.0.1", 0)); full.listen(0)
print(json.dumps({"port": echo.getsockname()[1], "full": full.getsockname()[1],
                  "ino": os.stat("/proc/self/ns/net").st_ino}), flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        conn, _ = echo.accept()
    except socket.timeout:
        continue
    with conn:
        conn.settimeout(5.0)
        conn.sendall(conn.recv(4096))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def ns() -> Iterator[SimpleNamespace]:
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root; run the suite as root (.ci/setup machines are)")
    name = f"vmctl-test-{secrets.token_hex(4)}"
    _ip("netns", "add", name)
    server = None
    try:
        _ip("-n", name, "link", "set", "lo", "up")
        server = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", SERVER],
                                  stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(server.stdout.readline()), daemon=True)
        reader.start()
        reader.join(15)
        assert line and line[0], "the echo server in the namespace did not start"
        info = json.loads(line[0])
        yield SimpleNamespace(name=name, **info)
    finally:
        if server is not None:
            server.kill()
            server.wait(10)
            server.stdout.close()
        _ip("netns", "del", name)
    assert not Path(f"/run/netns/{name}").exists()


def _thread_netns() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


def test_echo_round_trip_inside_the_namespace(ns):
    before = _thread_netns()
    with connect_in_netns(ns.name, "127.0.0.1", ns.port, 5.0) as sock:
        sock.sendall(b"hello from the root namespace")
        assert sock.recv(4096) == b"hello from the root namespace"
    assert _thread_netns() == before  # the caller never changed namespace


def test_the_socket_lives_in_that_namespace(ns):
    assert Path(f"/run/netns/{ns.name}").stat().st_ino == ns.ino  # the server runs in our namespace
    assert ns.ino != _thread_netns()
    with connect_in_netns(ns.name, "127.0.0.1", ns.port, 5.0) as sock:
        assert sock.getpeername() == ("127.0.0.1", ns.port)
        sock.sendall(b"x")
        assert sock.recv(10) == b"x"


def test_refused(ns):
    with pytest.raises(GuestError, match="refused") as info:
        connect_in_netns(ns.name, "127.0.0.1", 1, 5.0)
    assert info.value.hint


def test_unreachable_without_a_route(ns):
    # The namespace has only lo: no route, so the kernel refuses at once and sends nothing.
    with pytest.raises(GuestError, match="unreachable"):
        connect_in_netns(ns.name, "10.97.0.1", 22, 5.0)


def test_timeout_when_nobody_accepts(ns):
    held = []
    try:
        with pytest.raises(Timeout):
            for _ in range(8):  # the accept queue fills after one or two; then SYNs are dropped
                held.append(connect_in_netns(ns.name, "127.0.0.1", ns.full, 0.5))
    finally:
        for sock in held:
            sock.close()


def test_missing_namespace_is_not_found():
    with pytest.raises(NotFound, match="does not exist") as info:
        connect_in_netns(f"vmctl-test-missing-{secrets.token_hex(4)}", "127.0.0.1", 22, 1.0)
    assert "ip netns list" in info.value.hint


@pytest.mark.parametrize("bad", ["", "..", "../etc", "a/b", "-x"])
def test_bad_namespace_names(bad):
    with pytest.raises(InvalidInput):
        connect_in_netns(bad, "127.0.0.1", 22, 1.0)


def test_host_must_be_an_address(ns):
    with pytest.raises(InvalidInput):
        connect_in_netns(ns.name, "localhost", ns.port, 1.0)
