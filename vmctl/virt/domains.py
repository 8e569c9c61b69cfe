"""Domains: define, look up, list, lifecycle, console streams."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import libvirt

from vmctl.libvirtxml.facts import parse_domain

from vmctl.errors import Conflict, NotFound, Timeout
from vmctl.virt import errors
from vmctl.virt.errors import libvirt_errors
from vmctl.virt.host import Host

_STATES = {
    libvirt.VIR_DOMAIN_NOSTATE: "nostate",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "running",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting-down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut-off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}
# Why a paused domain is paused: "user" (a suspend call, as vmctl's group snapshot makes),
# "from-snapshot" (a revert to paused); the others (an I/O error, a watchdog...) are the
# host's business and never resumed by vmctl's repair.
_PAUSE_REASONS = {
    libvirt.VIR_DOMAIN_PAUSED_USER: "user",
    libvirt.VIR_DOMAIN_PAUSED_FROM_SNAPSHOT: "from-snapshot",
    libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT: "snapshot",
    libvirt.VIR_DOMAIN_PAUSED_MIGRATION: "migration",
    libvirt.VIR_DOMAIN_PAUSED_IOERROR: "io-error",
    libvirt.VIR_DOMAIN_PAUSED_WATCHDOG: "watchdog",
}


@dataclass(frozen=True)
class DomainRecord:
    """A domain as listed: its XML and live state, read in one pass."""

    name: str
    uuid: str
    state: str
    persistent: bool
    xml: str


class Domain:
    """One libvirt domain (a thin wrapper in the spirit of nova's Guest)."""

    def __init__(self, host: Host, dom: libvirt.virDomain) -> None:
        self.host = host
        self._dom = dom
        self.name: str = dom.name()

    @property
    def uuid(self) -> str:
        return self._dom.UUIDString()

    def state(self) -> str:
        with libvirt_errors(f"read the state of {self.name}"):
            return _STATES.get(self._dom.state()[0], "unknown")

    def pause_reason(self) -> str | None:
        """Why the domain is paused ("user", "from-snapshot", "io-error", ... "other");
        None when it is not paused."""
        with libvirt_errors(f"read the state of {self.name}"):
            state, reason = self._dom.state()
        if state != libvirt.VIR_DOMAIN_PAUSED:
            return None
        return _PAUSE_REASONS.get(reason, "other")

    def is_active(self) -> bool:
        with libvirt_errors(f"read the state of {self.name}"):
            return bool(self._dom.isActive())

    def xml(self, *, inactive: bool = False) -> str:
        flags = libvirt.VIR_DOMAIN_XML_INACTIVE if inactive else 0
        with libvirt_errors(f"read the XML of {self.name}"):
            return self._dom.XMLDesc(flags)

    def start(self, *, paused: bool = False) -> None:
        flags = libvirt.VIR_DOMAIN_START_PAUSED if paused else 0
        with libvirt_errors(f"start {self.name}"):
            self._dom.createWithFlags(flags)

    def resume(self) -> None:
        with libvirt_errors(f"resume {self.name}"):
            self._dom.resume()

    def suspend(self) -> None:
        """Pause the guest's vCPUs (its memory stays; resume continues it)."""
        with libvirt_errors(f"pause {self.name}"):
            self._dom.suspend()

    @property
    def autostart(self) -> bool:
        with libvirt_errors(f"read the autostart flag of {self.name}"):
            return bool(self._dom.autostart())

    def set_autostart(self, on: bool) -> None:
        with libvirt_errors(f"set the autostart flag of {self.name}"):
            self._dom.setAutostart(1 if on else 0)

    @property
    def persistent(self) -> bool:
        with libvirt_errors(f"read whether {self.name} is persistent"):
            return bool(self._dom.isPersistent())

    def set_vcpus(self, count: int, *, live: bool) -> None:
        """The vCPU count: in the definition (maximum and current), or live (hot-plug,
        up to the running maximum)."""
        with libvirt_errors(f"set the vCPUs of {self.name}"):
            if live:
                self._dom.setVcpusFlags(count, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                return
            config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            current = self._dom.vcpusFlags(config)
            if count > current:  # raise the maximum first, then the count
                self._dom.setVcpusFlags(count, config | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)
                self._dom.setVcpusFlags(count, config)
            else:
                self._dom.setVcpusFlags(count, config)
                self._dom.setVcpusFlags(count, config | libvirt.VIR_DOMAIN_VCPU_MAXIMUM)

    def set_memory(self, mib: int, *, live: bool) -> None:
        """Memory: in the definition (maximum and current), or live (the balloon, up to
        the running maximum)."""
        kib = mib * 1024
        with libvirt_errors(f"set the memory of {self.name}"):
            if live:
                self._dom.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE)
                return
            config = libvirt.VIR_DOMAIN_AFFECT_CONFIG
            self._dom.setMemoryFlags(kib, config | libvirt.VIR_DOMAIN_MEM_MAXIMUM)
            self._dom.setMemoryFlags(kib, config)

    def live_limits(self) -> tuple[int, int]:
        """(maximum vCPUs, maximum memory MiB) of the running domain."""
        with libvirt_errors(f"read the limits of {self.name}"):
            return (self._dom.vcpusFlags(libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_VCPU_MAXIMUM),
                    self._dom.maxMemory() // 1024)

    def shutdown(self) -> None:
        """Ask the guest to power off (ACPI power button)."""
        with libvirt_errors(f"shut down {self.name}"):
            self._dom.shutdown()

    def reboot(self) -> None:
        with libvirt_errors(f"reboot {self.name}"):
            self._dom.reboot(0)

    def destroy(self) -> None:
        """Power off at once. A domain already off is left as it is."""
        with libvirt_errors(f"destroy {self.name}"):
            if self._dom.isActive():
                self._dom.destroyFlags(0)

    def undefine(self) -> None:
        """Undefine; a UEFI domain's NVRAM (libvirt made it for this VM from the
        firmware's template) goes with it."""
        flags = libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
        try:
            if parse_domain(self.xml(inactive=True)).nvram:
                flags |= libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
            with libvirt_errors(f"undefine {self.name}"):
                self._dom.undefineFlags(flags)
        except NotFound:
            return  # a transient domain vanishes when it stops: nothing is left to undefine

    def make_persistent(self) -> None:
        """Define a running transient domain from its live XML (it stays running)."""
        with libvirt_errors(f"define {self.name}"):
            xml = self._dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE | libvirt.VIR_DOMAIN_XML_INACTIVE)
            self.host.conn.defineXMLFlags(xml, 0)

    def wait_for_state(self, wanted: set[str], timeout: float, *, interval: float = 0.2) -> str:
        """Poll until the state is one of ``wanted``; raise Timeout after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                current = self.state()
            except NotFound:
                current = "undefined"
            if current in wanted:
                return current
            if time.monotonic() >= deadline:
                raise Timeout(
                    f"{self.name} is still {current} after {timeout:.0f} s",
                    hint="use --force to power it off, or a longer --timeout",
                )
            time.sleep(interval)

    def set_metadata(self, xml: str, namespace: str, prefix: str) -> None:
        """Replace our metadata element in the persistent config (and live, if running)."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        with libvirt_errors(f"update the metadata of {self.name}"):
            if self._dom.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            self._dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml, prefix, namespace, flags)

    def update_device(self, device_xml: str) -> None:
        """Change a device (e.g. a CD-ROM's media) in the persistent config, and live if running."""
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        with libvirt_errors(f"update a device of {self.name}"):
            if self._dom.isActive():
                flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
            self._dom.updateDeviceFlags(device_xml, flags)

    def attach_device(self, device_xml: str) -> None:
        """Add a device to the persistent config, and to the running guest if it runs."""
        with libvirt_errors(f"attach a device to {self.name}"):
            self._dom.attachDeviceFlags(device_xml, self._config_and_live())

    def detach_device(self, device_xml: str) -> None:
        """Remove a device from the persistent config, and from the running guest if it runs
        (a guest that ignores the unplug request keeps it until it stops: libvirt says so)."""
        with libvirt_errors(f"detach a device from {self.name}"):
            self._dom.detachDeviceFlags(device_xml, self._config_and_live())

    def block_resize(self, target: str, size: int) -> None:
        """Grow a disk of the running guest to ``size`` bytes (QEMU resizes the image)."""
        with libvirt_errors(f"resize disk {target} of {self.name}"):
            self._dom.blockResize(target, size, libvirt.VIR_DOMAIN_BLOCK_RESIZE_BYTES)

    def _config_and_live(self) -> int:
        flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
        if self._dom.isActive():
            flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
        return flags

    def ipv4_addresses(self, source: str) -> list[str]:
        """The guest's IPv4 addresses from DHCP leases ('lease') or the guest agent ('agent');
        empty when the source knows none (yet)."""
        flag = {"lease": libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
                "agent": libvirt.VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT}[source]
        try:
            interfaces = self._dom.interfaceAddresses(flag, 0) or {}
        except libvirt.libvirtError:
            return []  # no agent, no network: the address is simply not known this way
        return [a["addr"] for name, iface in sorted(interfaces.items()) if name != "lo"
                for a in (iface.get("addrs") or []) if a.get("type") == libvirt.VIR_IP_ADDR_TYPE_IPV4]

    def monitor(self, command: str) -> str:
        """A command for QEMU's human monitor (HMP), through libvirt; its reply. (libvirt
        marks the domain as tainted by a custom monitor command.)"""
        import libvirt_qemu

        with libvirt_errors(f"send a monitor command to {self.name}"):
            return libvirt_qemu.qemuMonitorCommand(self._dom, command,
                                                   libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP) or ""

    def open_console(self) -> "ConsoleStream":
        stream = self.host.conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
        with libvirt_errors(f"open the console of {self.name}"):
            self._dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        return ConsoleStream(stream, self.name)


class ConsoleStream:
    """The serial console as a byte stream. Reads happen in libvirt's event loop
    (see virt.host) into a buffer; nothing ever blocks inside libvirt."""

    _EVENTS = (libvirt.VIR_STREAM_EVENT_READABLE | libvirt.VIR_STREAM_EVENT_ERROR
               | libvirt.VIR_STREAM_EVENT_HANGUP)

    def __init__(self, stream: libvirt.virStream, name: str) -> None:
        self._stream = stream
        self._name = name
        self._buffer = bytearray()
        self._cond = threading.Condition()
        self._closed = False
        self._released = False
        with libvirt_errors(f"watch the console of {name}"):
            stream.eventAddCallback(self._EVENTS, self._on_event, None)

    def _on_event(self, stream: libvirt.virStream, events: int, _opaque: object) -> None:
        eof = bool(events & (libvirt.VIR_STREAM_EVENT_ERROR | libvirt.VIR_STREAM_EVENT_HANGUP))
        for _ in range(64):  # drain what is there, bounded
            try:
                chunk = stream.recv(65536)
            except libvirt.libvirtError:
                eof = True
                break
            if chunk == -2:  # nothing more for now
                break
            if isinstance(chunk, int) or not chunk:
                eof = True
                break
            with self._cond:
                self._buffer.extend(chunk)
                self._cond.notify_all()
        if eof:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def read_available(self, timeout: float) -> tuple[bytes, bool]:
        """Wait up to ``timeout`` s for output; return (new bytes, stream still open)."""
        with self._cond:
            if not self._buffer and not self._closed:
                self._cond.wait(timeout)
            data = bytes(self._buffer)
            self._buffer.clear()
            return data, not self._closed

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 10
        while view:
            with libvirt_errors(f"write to the console of {self._name}"):
                sent = self._stream.send(bytes(view))
            if sent == -2:  # would block: the guest is slow to read
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
                continue
            view = view[sent:]

    def close(self) -> None:
        if self._released:
            return
        self._released = True
        with self._cond:  # a reader waiting in read_available returns at once
            self._closed = True
            self._cond.notify_all()
        for release in (self._stream.eventRemoveCallback, self._stream.abort):
            try:
                release()
            except libvirt.libvirtError:
                pass


def define(host: Host, xml: str) -> Domain:
    """Define a persistent domain, letting libvirt validate the XML too."""
    with libvirt_errors("define the domain"):
        dom = host.conn.defineXMLFlags(xml, libvirt.VIR_DOMAIN_DEFINE_VALIDATE)
    return Domain(host, dom)


def create_transient(host: Host, xml: str, *, autodestroy: bool) -> Domain:
    """Create and start a transient domain, paused (attach the console, then resume).
    ``autodestroy``: libvirt destroys it when this connection closes, so even a
    SIGKILLed vmctl leaves no guest running (``VIR_DOMAIN_START_AUTODESTROY``)."""
    flags = libvirt.VIR_DOMAIN_START_PAUSED | libvirt.VIR_DOMAIN_START_VALIDATE
    if autodestroy:
        flags |= libvirt.VIR_DOMAIN_START_AUTODESTROY
    with libvirt_errors("create the domain"):
        dom = host.conn.createXML(xml, flags)
    return Domain(host, dom)


def lookup(host: Host, name: str) -> Domain:
    dom = errors.lookup(lambda: host.conn.lookupByName(name), libvirt.VIR_ERR_NO_DOMAIN,
                        NotFound(f"no VM named {name!r}", hint="see `vmctl list`"), f"look up {name}")
    return Domain(host, dom)


def exists(host: Host, name: str) -> bool:
    try:
        lookup(host, name)
    except NotFound:
        return False
    return True


def list_all(host: Host) -> list[DomainRecord]:
    with libvirt_errors("list domains"):
        records = []
        for dom in host.conn.listAllDomains(0):
            try:
                state = _STATES.get(dom.state()[0], "unknown")
                records.append(DomainRecord(dom.name(), dom.UUIDString(), state,
                                            bool(dom.isPersistent()), dom.XMLDesc(0)))
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:  # vanished meanwhile
                    raise
        return sorted(records, key=lambda r: r.name)


def ensure_absent(host: Host, name: str) -> None:
    if exists(host, name):
        raise Conflict(f"a VM named {name!r} already exists", hint="pick another name or `vmctl delete` it")
