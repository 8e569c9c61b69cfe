"""`--internet` on the real tiny guest: a route out only when asked for. The route is
proven with a server on this host's loopback, reached from the guest at 10.0.2.2
(QEMU's user-mode NAT maps it to the host's 127.0.0.1); nothing else is dialled."""

from __future__ import annotations

import socket
import threading

import pytest

from vmctl.cli.app import run


@pytest.fixture
def loopback_server():
    """A TCP server on 127.0.0.1 that greets each connection; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.sendall(b"hello-from-the-host\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(5)
    server.close()


def reach_host(api, name: str, port: int) -> tuple[int, bytes]:
    out = bytearray()
    script = "timeout 5 nc 10.0.2.2 \"$1\" </dev/null"
    status = api.exec(name, ["sh", "-c", script, "sh", str(port)], out=out.extend, err=lambda _d: None, timeout=30)
    return status, bytes(out)


def test_a_route_out_only_with_internet(api, tiny, vm_name, loopback_server, capsys):
    open_vm = f"{vm_name}-net"
    try:
        assert run(["create", open_vm, "--internet", "--wait", "ssh", "--json"]) == 0
        api.create(vm_name, wait_boot=True, wait_ssh=True)
        assert reach_host(api, open_vm, loopback_server) == (0, b"hello-from-the-host\n")
        status, out = reach_host(api, vm_name, loopback_server)  # the default: restricted
        assert status != 0 and out == b""
        assert api.info(open_vm).internet and not api.info(vm_name).internet
        capsys.readouterr()
        assert run(["info", open_vm]) == 0
        assert "route out (--internet)" in capsys.readouterr().out
    finally:
        if open_vm in [vm.name for vm in api.list()]:
            api.delete(open_vm)
