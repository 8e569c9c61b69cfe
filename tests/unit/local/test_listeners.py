"""This machine's addresses and listening sockets, seen without a packet (loopback only)."""

import os
import socket

from vmctl.local.listeners import has_address, tcp_listening, unix_listening


def test_addresses_are_ours_when_a_socket_binds_to_them():
    assert has_address("127.0.0.1") and has_address("0.0.0.0")
    assert not has_address("192.0.2.123")  # TEST-NET-1: nobody's (bind fails, nothing is sent)


def test_tcp_listeners_are_seen_in_the_kernel_tables():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not tcp_listening("127.0.0.1", port)  # bound, not listening
        server.listen()
        assert tcp_listening("127.0.0.1", port) and tcp_listening("localhost", port)
        assert not tcp_listening("127.0.0.2", port)
    assert not tcp_listening("127.0.0.1", port)


def test_unix_listeners_are_seen_by_path(tmp_path):
    path = str(tmp_path / "s.sock")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        assert not unix_listening(path)
        server.listen()
        assert unix_listening(path)
    os.unlink(path)
    assert not unix_listening(path)
