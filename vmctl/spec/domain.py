"""What a domain is made of: accelerator, disks, NICs, boot, vmctl's metadata.

No lxml, no libvirt here: these are plain frozen dataclasses that the XML layer
renders and the controller fills.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from vmctl.errors import InvalidInput
from vmctl.spec.meta import VmMeta
from vmctl.spec.names import MAC_RE, check_name

__all__ = ["Accel", "DirectBoot", "DiskSpec", "DomainSpec", "NicSpec", "VmMeta"]

MIN_MEMORY_MIB = 64
DISK_BUSES = ("virtio", "sata", "scsi", "ide", "usb")
MAX_VCPUS = 256


class Accel(str, Enum):
    """How QEMU runs the guest: hardware KVM or software emulation (TCG)."""

    KVM = "kvm"
    TCG = "tcg"

    @property
    def domain_type(self) -> str:
        return "kvm" if self is Accel.KVM else "qemu"


@dataclass(frozen=True)
class DiskSpec:
    """One disk or CD-ROM of a domain, by host path."""

    path: str
    target: str = "vda"
    format: str = "qcow2"
    device: str = "disk"  # or "cdrom"
    bus: str = "virtio"
    readonly: bool = False
    replaces: int | None = None  # index of the template's <disk> whose place (bus, target, address) it takes
    address: tuple[int, int, int, int] | None = None  # drive address: controller, bus, target, unit

    def __post_init__(self) -> None:
        if self.bus not in DISK_BUSES:
            raise InvalidInput(f"invalid disk bus {self.bus!r}", hint="use " + ", ".join(DISK_BUSES))
        if self.device not in ("disk", "cdrom"):
            raise InvalidInput(f"invalid disk device {self.device!r}", hint="use disk or cdrom")
        if self.format not in ("qcow2", "raw"):
            raise InvalidInput(f"invalid disk format {self.format!r}", hint="use qcow2 or raw")
        if not re.match(r"^(vd|sd|hd)[a-z]$", self.target):
            raise InvalidInput(f"invalid disk target {self.target!r}", hint="e.g. vda, vdb or sda")


@dataclass(frozen=True)
class NicSpec:
    """A network interface.

    ``kind='user'`` is QEMU user-mode networking, restricted (no traffic leaves
    the guest) unless ``internet`` (QEMU's NAT: a route out, the host's loopback at
    10.0.2.2), with the guest's SSH port forwarded to ``127.0.0.1:ssh_port``.
    ``kind='network'`` attaches to the libvirt network ``network``.
    """

    kind: str = "user"
    mac: str = "52:54:00:00:00:01"
    ssh_port: int | None = None
    network: str | None = None
    pci_bus: str = "pci.0"         # user-mode NICs: the root bus (q35: pcie.0) and slot they are plugged into
    pci_slot: int | None = None
    internet: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("user", "network"):
            raise InvalidInput(f"invalid NIC kind {self.kind!r}", hint="use user or network")
        if not MAC_RE.match(self.mac):
            raise InvalidInput(f"invalid MAC address {self.mac!r}", hint="use 52:54:00:xx:xx:xx")
        if self.kind == "user" and not (self.ssh_port and 1024 <= self.ssh_port <= 65535):
            raise InvalidInput("a user-mode NIC needs an SSH forward port", hint="1024-65535")
        if self.kind == "network":
            check_name(self.network or "", "network")
            if self.internet:
                raise InvalidInput("--internet is for the user-mode NIC", hint="a libvirt network routes as it is "
                                   "configured (NAT or not): drop --internet or --network")
        if self.pci_bus not in ("pci.0", "pcie.0") or not (self.pci_slot is None or 1 <= self.pci_slot <= 0x1F):
            raise InvalidInput(f"invalid PCI place {self.pci_bus}:{self.pci_slot}", hint="pci.0 or pcie.0, slot 1-31")


@dataclass(frozen=True)
class DirectBoot:
    """Direct kernel boot: the host hands QEMU a kernel, initrd and command line."""

    kernel: str
    initrd: str
    cmdline: str


@dataclass(frozen=True)
class DomainSpec:
    """Everything needed to render one domain from a template."""

    name: str
    vcpus: int = 1
    memory_mib: int = 512
    accel: Accel = Accel.TCG
    nested_feature: str | None = None  # "vmx" or "svm": the CPU feature a nested guest needs
    disks: tuple[DiskSpec, ...] = ()
    nics: tuple[NicSpec, ...] = ()
    boot: DirectBoot | None = None
    meta: VmMeta = field(default_factory=VmMeta)
    uuid: str | None = None
    add_serial: bool = False  # the template has no serial port 0: add a pty one (the boot marker's console)

    def __post_init__(self) -> None:
        check_name(self.name)
        if not 1 <= self.vcpus <= MAX_VCPUS:
            raise InvalidInput(f"invalid CPU count {self.vcpus}", hint=f"use 1 to {MAX_VCPUS}")
        if self.memory_mib < MIN_MEMORY_MIB:
            raise InvalidInput(
                f"memory {self.memory_mib} MiB is too small", hint=f"use at least {MIN_MEMORY_MIB}M"
            )
        if self.nested_feature and self.accel is not Accel.KVM:
            raise InvalidInput(
                "nested virtualization needs KVM", hint="drop --nested or use --accel kvm on a KVM host"
            )
        if self.nested_feature not in (None, "vmx", "svm"):
            raise InvalidInput(f"invalid nested CPU feature {self.nested_feature!r}", hint="vmx or svm")
        targets = [d.target for d in self.disks]
        if len(set(targets)) != len(targets):
            raise InvalidInput(f"duplicate disk targets {targets}", hint="give each disk its own target")
