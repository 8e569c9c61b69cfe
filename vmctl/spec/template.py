"""What a domain template is made of, as far as vmctl must know to place its own
devices and to check the host: read from the XML by libvirtxml.template, used by
policy.devices (placement) and ops.preflight (host resources). No lxml here."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TemplateDisk:
    """One ``<disk>`` of a template, in document order (``index``)."""

    index: int
    device: str             # disk, cdrom, floppy, lun
    bus: str                # virtio, sata, scsi, ide, usb, fdc, ...
    target: str             # vda, sda, hdc, ...
    source_kind: str = ""   # file, block, network, volume, dir, nvme, vhostuser; "" when empty
    source: str = ""        # path, device, "protocol:name" or "pool/volume"
    boot_order: int | None = None
    drive_address: tuple[int, int, int, int] | None = None  # controller, bus, target, unit


@dataclass(frozen=True)
class HostNeed:
    """A host resource a template names: checked before anything is made."""

    kind: str       # network, bridge, interface, block, file, directory, firmware, tpm, hugepages, machine
    name: str       # what it is called on the host (a path, a network name, ...)
    element: str    # the template element that names it, for messages: "<interface type='network'>"
    writable: bool = False  # a file QEMU creates (a log, a serial file): its directory must exist


@dataclass(frozen=True)
class Unusable:
    """Part of a template that can never be used for a new VM here (a second disk that
    would be shared, a host device to pass through): refused, or dropped on request."""

    element: str    # "<disk device='disk'> vdb (/var/lib/libvirt/images/data.qcow2)"
    reason: str
    path: str       # an ElementPath from <domain> that selects exactly this element
    replace_with_pty: bool = False  # a serial port 0 that is not a pty becomes one when dropped
    fit: str = "drop"  # what --drop-unusable does: drop, unpin, unpin-attr, loopback, no-tls (see FITS)
    fix: str = ""      # how the user fixes the template instead (for the refusal's hint)

    @property
    def done(self) -> str:
        """What --drop-unusable did to it, for notes: 'dropped', 'made a pty', ..."""
        return FITS["pty" if self.replace_with_pty else self.fit]


    @property
    def summary(self) -> str:
        """What --drop-unusable does to this kind of part, for the refusal's hint."""
        return FIT_SUMMARY["pty" if self.replace_with_pty else self.fit]


FITS = {"drop": "dropped", "pty": "made a pty", "unpin": "dropped", "unpin-attr": "cpuset dropped",
        "loopback": "made to listen on 127.0.0.1", "no-tls": "SPICE TLS dropped"}
FIT_SUMMARY = {"drop": "those parts left out", "pty": "serial port 0 made a pty", "unpin": "that pinning dropped",
               "unpin-attr": "that pinning dropped", "loopback": "graphics on 127.0.0.1",
               "no-tls": "SPICE without TLS"}


@dataclass(frozen=True)
class HostTie:
    """A part of a template tied to one host, like a MAC: host CPUs or NUMA nodes it pins
    to, an address it listens on, the daemon's SPICE TLS set-up, a server it connects
    to at start. Kept where the host has it; otherwise refused, or fitted on request."""

    kind: str       # cpus, nodes, listen, spice-tls, connect
    element: str    # for messages: "<vcpupin vcpu='1' cpuset='63'>"
    value: str      # a cpuset/nodeset; an address; "tcp:HOST:PORT", "unix:PATH", "unix-file:PATH"; "" for spice-tls
    path: str       # an ElementPath from <domain> that selects exactly this element
    fit: str        # what --drop-unusable does to it (a key of FITS)


def _unknown_tls() -> tuple[bool | None, str]:
    return None, "not asked"


@dataclass(frozen=True)
class HostView:
    """What pre-flight knows of the host a VM is made on, None where it cannot know:
    its CPUs and NUMA nodes (libvirt's capabilities), whether the daemon has SPICE TLS
    on (asked of libvirt), and, where the host is this machine, its addresses and the
    servers listening on it."""

    local: bool = True
    cpus: frozenset[int] | None = None
    nodes: frozenset[int] | None = None
    spice_tls: Callable[[], tuple[bool | None, str]] = _unknown_tls  # (on?, what the daemon said)
    has_address: Callable[[str], bool | None] = lambda address: None
    listening: Callable[[str, str], bool | None] = lambda kind, target: None  # ("tcp", "H:P") / ("unix", PATH)
    exists: Callable[[str], bool | None] = lambda path: None  # a file (a UNIX socket) is there


@dataclass(frozen=True)
class TemplateFacts:
    machine: str = "pc"
    arch: str = "x86_64"
    direct_boot: bool = False
    efi: bool = False                 # firmware='efi' or a pflash loader
    secure_boot: bool = False
    vcpus: int | None = None
    memory_mib: int | None = None
    topology_cpus: int | None = None  # sockets x dies x cores x threads, if given
    numa_cpus: int | None = None      # vCPUs the NUMA cells name (highest index + 1)
    numa_memory_mib: int | None = None
    os_boot_devs: tuple[str, ...] = ()
    disks: tuple[TemplateDisk, ...] = ()
    controllers: tuple[tuple[str, str], ...] = ()      # (type, model)
    pci_slots: frozenset[tuple[int, int]] = frozenset()  # (bus, slot) given explicitly
    serial0: str | None = None        # type of the serial device at port 0, None if there is none
    needs: tuple[HostNeed, ...] = ()
    unusable: tuple[Unusable, ...] = field(default=())
    ties: tuple[HostTie, ...] = ()    # checked against the host by policy.hostfit

    @property
    def family(self) -> str:
        """'q35', 'pc' (i440FX) or the machine as written (microvm, isapc, ...)."""
        m = self.machine.lower()
        if "q35" in m:
            return "q35"
        if m == "pc" or m.startswith("pc-i440fx") or m.startswith("pc-") and m[3:4].isdigit():
            return "pc"
        return m

    @property
    def has_ide(self) -> bool:
        return self.family == "pc"


def is_anywhere_or_loopback(address: str) -> bool:
    """0.0.0.0, ::, 127.0.0.0/8, ::1 or 'localhost': every host has it."""
    if address == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified
