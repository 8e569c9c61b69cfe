"""A libvirt connection and what it tells about the host."""

from __future__ import annotations

import functools

import os
import threading
from dataclasses import dataclass

import libvirt

from vmctl.errors import HostError
from vmctl.virt.errors import libvirt_errors, translate

DEFAULT_URI = "qemu:///system"
_event_loop: threading.Thread | None = None


def _ensure_event_loop() -> None:
    """libvirt's default event loop in a daemon thread, registered before any
    connection opens. Console streams need it: a blocking recv() in one thread
    and abort() in another can deadlock inside libvirt; with events, reads run
    non-blocking in this loop and close() never races a blocked call."""
    global _event_loop
    if _event_loop is not None:
        return
    libvirt.virEventRegisterDefaultImpl()

    def run() -> None:
        while True:
            libvirt.virEventRunDefaultImpl()

    _event_loop = threading.Thread(target=run, name="libvirt-events", daemon=True)
    _event_loop.start()


def default_uri() -> str:
    return os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI


def _version(number: int) -> str:
    return f"{number // 1_000_000}.{number // 1000 % 1000}.{number % 1000}"


@dataclass(frozen=True)
class HostFacts:
    uri: str
    hostname: str
    libvirt_version: str
    hypervisor: str
    hypervisor_version: str
    cpus: int
    memory_mib: int
    free_memory_mib: int


SESSION_HINT = ("libvirt starts your own daemon for a session URI: it needs libvirtd installed "
                "and XDG_RUNTIME_DIR unset or a directory of yours, mode 0700 (see docs/install.md)")


class Host:
    """An open libvirt connection. Use as a context manager to close it."""

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri or default_uri()
        _ensure_event_loop()
        try:
            self.conn = libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            from vmctl.spec.uris import is_session_uri, redact_uri

            raise HostError(
                f"cannot connect to libvirt at {redact_uri(self.uri)}: {exc.get_error_message()}",
                hint=SESSION_HINT if is_session_uri(self.uri)
                else "start libvirtd (.ci/setup does it), or pick another URI with -c/--connect",
            ) from None

    def __enter__(self) -> "Host":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except libvirt.libvirtError:
            pass

    @functools.cached_property
    def hostname(self) -> str:
        """The host's name as libvirt reports it (read once per connection)."""
        try:
            return self.conn.getHostname()
        except libvirt.libvirtError:
            return "?"

    @property
    def is_local(self) -> bool:
        """True when the URI names this machine over a local transport."""
        from urllib.parse import urlsplit

        parsed = urlsplit(self.uri)
        transport = parsed.scheme.partition("+")[2]
        return parsed.hostname in (None, "localhost") and transport in ("", "unix")

    def facts(self) -> HostFacts:
        with libvirt_errors("read host information"):
            model, mem_mib, cpus, *_ = self.conn.getInfo()
            free = self.conn.getFreeMemory() // (1024 * 1024)
            return HostFacts(
                uri=self.conn.getURI(),
                hostname=self.conn.getHostname(),
                libvirt_version=_version(self.conn.getLibVersion()),
                hypervisor=self.conn.getType(),
                hypervisor_version=_version(self.conn.getVersion()),
                cpus=cpus,
                memory_mib=mem_mib,
                free_memory_mib=free,
            )


def memory_mib(host: Host) -> tuple[int, int]:
    """(available, total) MiB from libvirt's node memory statistics. Available: free
    plus page cache and buffers (what the kernel reclaims for a new guest). The total
    is read there too: getInfo's figure can be a NUMA node's or the boot-time size
    (seen: 7.0 of 23.5 GiB on a machine with hot-plugged memory)."""
    with libvirt_errors("read the host's memory statistics"):
        return _mib_of(host.conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0))


def memory_mib_if_known(host: Host) -> tuple[int, int] | None:
    """:func:`memory_mib`, or None from a driver without node memory statistics (test:///)."""
    try:
        stats = host.conn.getMemoryStats(libvirt.VIR_NODE_MEMORY_STATS_ALL_CELLS, 0)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return None
        raise translate(exc, "read the host's memory statistics") from None
    return _mib_of(stats)


def _mib_of(stats: dict[str, int]) -> tuple[int, int]:
    available = sum(int(stats.get(key, 0)) for key in ("free", "cached", "buffers"))
    return available // 1024, int(stats.get("total", 0)) // 1024


def capabilities_xml(host: Host) -> str:
    with libvirt_errors("read host capabilities"):
        return host.conn.getCapabilities()


SPICE_TLS_OFF = "TLS is disabled in qemu.conf"


def spice_tls_enabled(host: Host) -> tuple[bool | None, str]:
    """Whether the libvirt daemon has SPICE TLS on (spice_tls in its qemu.conf, which may
    be on another machine), as the daemon says when it builds (never starts) a probe
    domain with a TLS port: (True|False, ""), or (None, its message) when it cannot say."""
    from vmctl.libvirtxml.hostties import spice_tls_probe_xml

    try:
        host.conn.domainXMLToNative("qemu-argv", spice_tls_probe_xml(), 0)
    except libvirt.libvirtError as exc:
        text = (exc.get_error_message() or str(exc)).strip()
        return (False, text) if SPICE_TLS_OFF in text else (None, text)
    return True, ""
