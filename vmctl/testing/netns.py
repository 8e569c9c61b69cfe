"""TCP sockets inside a named network namespace (``ip netns add NAME``).

A socket belongs to the network namespace of the thread that created it, for
its whole life. :func:`connect_in_netns` starts a short-lived thread that joins
the namespace (``setns(CLONE_NEWNET)``), creates and connects the socket there,
and exits; the caller gets a connected socket that reaches addresses only that
namespace can reach (a guest on a libvirt network inside a lab host). The
calling thread never changes namespace. Needs root (CAP_SYS_ADMIN).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import socket
import threading
from pathlib import Path

from vmctl.errors import GuestError, HostError, InvalidInput, NotFound, Timeout, VmctlError

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = getattr(os, "CLONE_NEWNET", 0x40000000)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def check_netns_name(name: str) -> str:
    """``name`` if it is a plain namespace name (no path parts), else InvalidInput."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name in (".", ".."):
        raise InvalidInput(f"invalid network namespace name {name!r}",
                           hint="letters, digits, '.', '_' and '-', as `ip netns list` shows them")
    return name


def netns_path(name: str) -> Path:
    return NETNS_DIR / check_netns_name(name)


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open at ``fd``."""
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _connect_here(host: str, port: int, timeout: float) -> socket.socket:
    """``socket.create_connection`` without DNS: ``host`` must be an IP address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def connect_in_netns(netns_name: str, host: str, port: int, timeout: float) -> socket.socket:
    """A TCP socket connected to ``host:port`` from inside network namespace ``netns_name``.

    ``host`` must be a literal IP address (no name lookup happens in the namespace).
    Raises NotFound (no such namespace), GuestError (refused, unreachable), Timeout.
    """
    where = f"{host}:{port} in network namespace {netns_name}"
    path = netns_path(netns_name)
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except (OSError, TypeError):
        raise InvalidInput(f"{host!r} is not an IP address", hint="connect_in_netns takes literal addresses") from None
    if not 0 < port < 65536:
        raise InvalidInput(f"invalid port {port}", hint="1-65535")
    result: dict[str, object] = {}

    def worker() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            result["error"] = NotFound(f"network namespace {netns_name!r} does not exist",
                                       hint="see `ip netns list`; a lab host removes its namespace on stop")
            return
        except OSError as exc:
            result["error"] = exc
            return
        try:
            _setns(fd)
        except OSError as exc:
            result["error"] = HostError(f"cannot enter network namespace {netns_name!r}: {exc.strerror or exc}",
                                        hint="entering a network namespace needs root (CAP_SYS_ADMIN)")
            return
        finally:
            os.close(fd)
        try:
            result["sock"] = _connect_here(host, port, timeout)
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=worker, name=f"netns-{netns_name}", daemon=True)
    thread.start()
    thread.join(timeout + 5.0)  # the connect itself is bounded by ``timeout``
    if thread.is_alive():
        raise Timeout(f"{where}: connecting did not finish within {timeout:g} s")
    error = result.get("error")
    if error is None:
        return result["sock"]  # type: ignore[return-value]
    if isinstance(error, VmctlError):
        raise error
    if isinstance(error, ConnectionRefusedError):
        raise GuestError(f"{where}: connection refused",
                         hint="nothing listens there yet: is the guest still booting?") from None
    if isinstance(error, (TimeoutError, socket.timeout)):
        raise Timeout(f"{where}: TCP connect did not finish within {timeout:g} s",
                      hint="the address may not exist in that namespace, or a firewall drops packets") from None
    if isinstance(error, OSError) and error.errno in _UNREACHABLE:
        raise GuestError(f"{where}: unreachable ({error.strerror})",
                         hint="the namespace has no route to that address; check `ip -n NS route`") from None
    if isinstance(error, OSError):
        raise GuestError(f"{where}: cannot connect: {error.strerror or error}") from None
    raise error  # type: ignore[misc]
