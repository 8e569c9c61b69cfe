"""What a domain template is made of, as far as vmctl must know to place its own
devices and to check the host: read from the XML by libvirtxml.template, used by
policy.devices (placement) and ops.preflight (host resources). No lxml here."""

from __future__ import annotations

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
