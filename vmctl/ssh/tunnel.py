"""Jump hosts: reaching a guest through the SSH server of the host it runs on.

A remote libvirt host (``qemu+ssh://``) keeps a guest's SSH forward on its own
loopback, and a guest on a libvirt network has an address only that host can
route to. Both are reached through a ``direct-tcpip`` channel of an SSH
connection to that host, made with the user's own trust (their known_hosts and
keys, as libvirt's ``qemu+ssh://`` transport uses them). Unknown jump-host keys
are rejected.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko

from vmctl.errors import GuestError, HostKeyMismatch
from vmctl.ssh.keys import fingerprint_of_blob


@dataclass(frozen=True)
class JumpHost:
    """The hypervisor host a remote guest's loopback forward lives on, reached over SSH
    with the user's own trust (their known_hosts and keys, as ``qemu+ssh://`` uses)."""

    host: str
    port: int = 22
    user: str | None = None
    key_path: Path | None = None     # None: the usual ~/.ssh keys and the agent
    known_hosts: Path | None = None  # None: ~/.ssh/known_hosts


class _JumpChannel:
    """A direct-tcpip channel used as a socket; closing it closes the jump connection."""

    def __init__(self, channel: paramiko.Channel, client: paramiko.SSHClient) -> None:
        self._channel, self._client = channel, client

    def __getattr__(self, name: str):
        return getattr(self._channel, name)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the jump connection may already be gone
            self._channel.close()
        self._client.close()


def jump_socket(jump: JumpHost, dest_host: str, dest_port: int, timeout: float = 10.0) -> socket.socket:
    """A connection to ``dest_host:dest_port`` as seen from the jump host (SSH direct-tcpip).
    The jump host's key must already be known: unknown keys are rejected."""
    where = f"{jump.user + '@' if jump.user else ''}{jump.host}:{jump.port}"
    client = paramiko.SSHClient()
    known = jump.known_hosts or Path.home() / ".ssh" / "known_hosts"
    try:
        client.load_host_keys(str(known))
    except OSError:
        raise GuestError(f"jump host {where}: cannot read known hosts {known}",
                         hint=f"connect once with ssh(1) to {jump.host} to check and record its key") from None
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(jump.host, jump.port, username=jump.user, timeout=timeout, banner_timeout=timeout,
                       auth_timeout=timeout, key_filename=str(jump.key_path) if jump.key_path else None,
                       allow_agent=jump.key_path is None, look_for_keys=jump.key_path is None)
        channel = client.get_transport().open_channel(  # type: ignore[union-attr]
            "direct-tcpip", (dest_host, dest_port), ("127.0.0.1", 0), timeout=timeout)
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise HostKeyMismatch(f"jump host {where}: host key mismatch, got {fingerprint_of_blob(exc.key.asbytes())}",
                              hint="check the hypervisor host's key before trusting it") from None
    except paramiko.SSHException as exc:  # includes an unknown key (RejectPolicy) and auth failures
        client.close()
        raise GuestError(f"jump host {where}: {exc} (stage: jump host)",
                         hint="check `ssh " + where.rsplit(":", 1)[0] + "` works with your keys and known_hosts") from None
    except OSError as exc:
        client.close()
        raise GuestError(f"jump host {where}: {exc.strerror or exc} (stage: jump host)",
                         hint="is the hypervisor host reachable over SSH?") from None
    return _JumpChannel(channel, client)  # type: ignore[return-value]
