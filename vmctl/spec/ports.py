"""Port forwards of vmctl's user-mode NIC: ``[HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]``
as people write them, and QEMU's ``hostfwd=PROTO:ADDR:PORT-:GUEST`` option, both ways."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from vmctl.errors import InvalidInput

_SPEC = re.compile(r"^(?:(?P<addr>\d{1,3}(?:\.\d{1,3}){3}):)?(?P<host>\d{1,5}):(?P<guest>\d{1,5})(?:/(?P<proto>tcp|udp))?$")
_OPTION = re.compile(r"^hostfwd=(?P<proto>tcp|udp):(?P<addr>\d{1,3}(?:\.\d{1,3}){3}):(?P<host>\d{1,5})-:(?P<guest>\d{1,5})$")
HINT = "[HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp], e.g. 8080:80 or 127.0.0.2:5432:5432"


@dataclass(frozen=True, order=True)
class PortForward:
    host_port: int
    guest_port: int
    proto: str = "tcp"
    host_addr: str = "127.0.0.1"

    def __post_init__(self) -> None:
        for port in (self.host_port, self.guest_port):
            if not 1 <= port <= 65535:
                raise InvalidInput(f"port {port} is out of range", hint="ports are 1-65535")
        if self.proto not in ("tcp", "udp"):
            raise InvalidInput(f"invalid protocol {self.proto!r}", hint="tcp or udp")
        try:
            ipaddress.IPv4Address(self.host_addr)
        except ValueError:
            raise InvalidInput(f"invalid host address {self.host_addr!r}", hint="an IPv4 address such as "
                               "127.0.0.1") from None

    @property
    def loopback(self) -> bool:
        return ipaddress.IPv4Address(self.host_addr).is_loopback

    @property
    def option(self) -> str:
        """QEMU's ``hostfwd=`` option for this forward."""
        return f"hostfwd={self.proto}:{self.host_addr}:{self.host_port}-:{self.guest_port}"

    def __str__(self) -> str:
        return f"{self.host_addr}:{self.host_port}:{self.guest_port}/{self.proto}"

    def to_dict(self) -> dict[str, object]:
        return {"host_addr": self.host_addr, "host_port": self.host_port, "guest_port": self.guest_port,
                "proto": self.proto}


def parse_forward(text: str) -> PortForward:
    """``[HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]`` (loopback when no address is given)."""
    found = _SPEC.match(text.strip())
    if not found:
        raise InvalidInput(f"invalid port forward {text!r}", hint=HINT)
    return PortForward(int(found["host"]), int(found["guest"]), found["proto"] or "tcp",
                       found["addr"] or "127.0.0.1")


_SOCKET = re.compile(r"^(?:(?P<addr>\d{1,3}(?:\.\d{1,3}){3}):)?(?P<host>\d{1,5})(?::\d{1,5})?(?:/(?P<proto>tcp|udp))?$")


def parse_host_socket(text: str) -> tuple[str, int, str]:
    """(address, port, protocol) of a forward's host side, as `port rm` names it:
    ``[HOST_ADDR:]HOST_PORT[:GUEST_PORT][/tcp|/udp]``."""
    found = _SOCKET.match(text.strip())
    if not found:
        raise InvalidInput(f"invalid port forward {text!r}", hint="[HOST_ADDR:]HOST_PORT[/tcp|/udp], e.g. 8080")
    forward = PortForward(int(found["host"]), 1, found["proto"] or "tcp", found["addr"] or "127.0.0.1")  # checks
    return forward.host_addr, forward.host_port, forward.proto


def forward_of_option(option: str) -> PortForward | None:
    """The forward a ``hostfwd=`` option describes; None for any other option."""
    found = _OPTION.match(option)
    if not found:
        return None
    return PortForward(int(found["host"]), int(found["guest"]), found["proto"], found["addr"])
