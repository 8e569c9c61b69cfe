"""This machine's addresses and listening sockets, seen without sending a packet or
touching the server (a connect would be seen by it): an address is ours if a socket
can be bound to it; a server listens if the kernel lists its listening socket."""

from __future__ import annotations

import ipaddress
import socket
import sys
from pathlib import Path

_LISTEN = "0A"                # TCP_LISTEN in /proc/net/tcp{,6}
_ACCEPTCON = 0x10000          # __SO_ACCEPTCON in /proc/net/unix: a listening socket


def has_address(address: str) -> bool:
    """True if ``address`` (an IP literal or a name) is one of this machine's."""
    try:
        infos = socket.getaddrinfo(address.strip("[]"), None, type=socket.SOCK_STREAM)  # as QEMU resolves it
    except (socket.gaierror, UnicodeError):
        return False
    for family, kind, proto, _name, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.bind((sockaddr[0], 0, *sockaddr[2:]))
                return True
            except OSError:
                continue
    return False


def tcp_listening(address: str, port: int) -> bool:
    """A TCP server listens on ``address:port`` (or on the wildcard address)."""
    try:
        wanted = ipaddress.ip_address("127.0.0.1" if address == "localhost" else address.strip("[]"))
    except ValueError:
        return False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for local in _listeners(table):
            ip, lport = local
            if lport != port:
                continue
            if ip.is_unspecified or ip == wanted or (address == "localhost" and ip.is_loopback):
                return True
            mapped = getattr(ip, "ipv4_mapped", None)
            if mapped is not None and mapped == wanted:
                return True
    return False


def unix_listening(path: str) -> bool:
    """A server listens on the UNIX socket ``path``."""
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[7] == path:
            try:
                if int(fields[3], 16) & _ACCEPTCON:
                    return True
            except ValueError:
                continue
    return False


def _listeners(table: str) -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 4 or fields[3] != _LISTEN:
            continue
        hex_ip, _, hex_port = fields[1].partition(":")
        try:
            raw = bytes.fromhex(hex_ip)
            # the kernel prints each 32-bit word in host (little-endian) order
            if sys.byteorder == "little":
                raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((ipaddress.ip_address(raw), int(hex_port, 16)))
        except ValueError:
            continue
    return found
