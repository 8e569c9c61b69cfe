"""Choosing the loopback port that forwards to a guest's SSH."""

from __future__ import annotations

import random
from collections.abc import Callable

from vmctl.errors import InsufficientResources

PORT_RANGE = range(10022, 20000)
MAX_TRIES = 200


def pick_ssh_port(used: set[int], *, is_free: Callable[[int], bool] | None = None,
                  rng: random.Random | None = None) -> int:
    """A port in PORT_RANGE not used by another VM and, if ``is_free`` is given (the
    hypervisor is local), free right now. Bounded: at most MAX_TRIES tries."""
    rng = rng or random.Random()
    for _ in range(MAX_TRIES):
        port = rng.choice(PORT_RANGE)
        if port in used:
            continue
        if is_free is not None and not is_free(port):
            continue
        return port
    raise InsufficientResources("no free loopback port for SSH forwarding",
                                hint=f"free some ports in {PORT_RANGE.start}-{PORT_RANGE.stop - 1}")
