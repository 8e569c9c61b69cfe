"""Where a guest's SSH answers, and how to open a connection to it.

A guest is reached at its loopback port forward (user-mode NIC) or, on a libvirt
network, at the address its DHCP lease or guest agent reports. On a local host
vmctl connects directly; on a remote one it goes through an SSH jump via that
host (``qemu+ssh://`` URIs name it), whatever the remote host is: a server in a
rack or a lab host on this machine look the same from here.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from vmctl.errors import GuestError

if TYPE_CHECKING:
    from vmctl.ssh.tunnel import JumpHost

SSH_PORT = 22
JUMP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    via: str  # "loopback forward", "dhcp lease", "guest agent"; remote: "... ssh jump via HOST"
    sock_factory: Callable[[], socket.socket] | None = None  # how to open a connection, if not plain TCP

    def connect(self, timeout: float) -> socket.socket:
        from vmctl.ssh.probe import open_socket

        return open_socket(self.host, self.port, timeout, self.sock_factory)


def guest_endpoint(name: str, uri: str, *, is_local: bool, forward_port: int | None,
                   addresses: Callable[[str], list[str]]) -> Endpoint | None:
    """The endpoint of guest ``name`` on the host at ``uri``; None while its address is
    unknown. ``addresses(source)`` lists the guest's IPv4 addresses by 'lease' or 'agent'."""
    if forward_port:
        host, port, via = "127.0.0.1", forward_port, "loopback forward"
    else:
        for source, via in (("lease", "dhcp lease"), ("agent", "guest agent")):
            found = addresses(source)
            if found:
                host, port = found[0], SSH_PORT
                break
        else:
            return None
    if is_local:
        return Endpoint(host, port, via)
    jump = jump_host_of(uri)
    if jump is None:
        raise GuestError(f"{name} answers SSH at {host}:{port} as seen from {uri}, which only an SSH jump "
                         "through that host can reach", hint="connect with qemu+ssh://USER@HOST/system")
    from vmctl.ssh.tunnel import jump_socket

    shown = f"ssh jump via {jump.host}" if forward_port else f"{via}, ssh jump via {jump.host}"
    return Endpoint(host, port, shown, functools.partial(jump_socket, jump, host, port, JUMP_TIMEOUT))


def jump_host_of(uri: str) -> "JumpHost | None":
    """The SSH jump host a ``qemu+ssh://[user@]host[:port]/...`` URI names (with its
    ``keyfile`` and ``known_hosts`` parameters, as libvirt's ssh transport reads
    them), or None for other transports."""
    from vmctl.ssh.tunnel import JumpHost

    parts = urlsplit(uri)
    if parts.scheme.partition("+")[2] != "ssh" or not parts.hostname:
        return None
    query = parse_qs(parts.query)
    keyfile = query.get("keyfile", [None])[0]
    known_hosts = query.get("known_hosts", [None])[0]
    return JumpHost(parts.hostname, parts.port or SSH_PORT, parts.username, Path(keyfile) if keyfile else None,
                    Path(known_hosts) if known_hosts else None)
