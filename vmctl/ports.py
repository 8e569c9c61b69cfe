"""Choosing the loopback port that forwards to a guest's SSH."""

from __future__ import annotations

import random
import socket

from vmctl.errors import InsufficientResources

PORT_RANGE = range(10022, 20000)


def pick_ssh_port(used: set[int], *, check_local: bool, rng: random.Random | None = None) -> int:
    """A port in PORT_RANGE not used by another VM and, when the hypervisor is
    local, free on 127.0.0.1 right now. Bounded: at most 200 tries."""
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.choice(PORT_RANGE)
        if port in used:
            continue
        if check_local and not port_is_free(port):
            continue
        return port
    raise InsufficientResources("no free loopback port for SSH forwarding",
                                hint=f"free some ports in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
