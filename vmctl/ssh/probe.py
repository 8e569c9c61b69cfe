"""Plain TCP for SSH: opening the connection and reading the server's banner.
No paramiko here, so readiness probes stay cheap to import."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable

from vmctl.errors import GuestError, Timeout


def probe_banner(host: str, port: int, timeout: float,
                 sock_factory: Callable[[], socket.socket] | None = None) -> str:
    """Connect and return the server's ``SSH-2.0-...`` line (no key exchange)."""
    deadline, where = time.monotonic() + timeout, f"{host}:{port}"
    with contextlib.closing(open_socket(host, port, timeout, sock_factory)) as sock:
        data, received = b"", 0
        while received < 8192:  # RFC 4253 lets a server send other lines before the version line
            line, sep, rest = data.partition(b"\n")
            if sep:
                if line.startswith(b"SSH-"):
                    return line.rstrip(b"\r").decode("ascii", "replace")
                data = rest
                continue
            if (remaining := deadline - time.monotonic()) <= 0:
                break
            sock.settimeout(remaining)
            try:
                chunk = sock.recv(256)
            except TimeoutError:
                break
            except OSError as exc:
                raise GuestError(f"{where}: {exc.strerror or exc} (stage: SSH banner)") from None
            if not chunk:
                raise GuestError(f"{where}: connection closed before the SSH banner (stage: SSH banner)",
                                 hint="sshd in the guest is not up yet (a port forward accepts and then closes)")
            data, received = data + chunk, received + len(chunk)
        else:
            raise GuestError(f"{where}: no SSH banner in the first 8 KiB (stage: SSH banner)",
                             hint="something other than an SSH server answers on that port")
    raise Timeout(f"{where}: no SSH banner within {timeout:g} s (stage: SSH banner)",
                  hint="the port accepts connections but no SSH server answers; the guest may still be booting")


def open_socket(host: str, port: int, timeout: float,
                 sock_factory: Callable[[], socket.socket] | None) -> socket.socket:
    """A connected socket (stage: port open)."""
    where = f"{host}:{port}"
    try:
        sock = sock_factory() if sock_factory else socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        raise GuestError(f"{where}: connection refused (stage: port open)",
                         hint="nothing listens there: the VM is not running or its SSH port forward is "
                              "missing") from None
    except TimeoutError:
        raise Timeout(f"{where}: TCP connect did not finish within {timeout:g} s (stage: port open)",
                      hint="the host or a firewall drops the connection") from None
    except OSError as exc:
        raise GuestError(f"{where}: cannot connect: {exc.strerror or exc} (stage: port open)") from None
    # Small SSH packets: without NODELAY delayed ACKs add ~40 ms a round trip (jump channels have no sockopts).
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
