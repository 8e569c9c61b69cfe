"""Where vmctl's own devices go in a template: its disk, the NoCloud seed CD-ROM, the
user-mode NIC and the serial console. Pure: template facts in, a placement out.

    pc (i440FX): seed on IDE (hdc, else a free IDE slot); NIC on pci.0
    q35:         seed on SATA (the built-in AHCI controller); NIC on pcie.0
    both:        an emptied cdrom of the template takes the seed; the template's boot
                 disk takes the VM's disk (same bus and target); free slots otherwise
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from vmctl.errors import InvalidInput
from vmctl.spec.template import TemplateDisk, TemplateFacts

# The user-mode NIC is plugged behind libvirt's back, at a PCI slot libvirt leaves free
# (it fills slots from the bottom); q35's 0x1f is the ICH9 function block.
NIC_PCI_SLOTS = tuple(range(0x10, 0x1F))
IDE_SLOTS = {"hda": (0, 0), "hdb": (0, 1), "hdc": (1, 0), "hdd": (1, 1)}  # target -> (bus, unit)
SATA_PORTS = 6


@dataclass(frozen=True)
class DiskPlace:
    target: str
    bus: str
    replaces: int | None = None   # index of the template's <disk> this one takes the place of
    address: tuple[int, int, int, int] | None = None  # drive address: controller, bus, target, unit


@dataclass(frozen=True)
class Placement:
    disk: DiskPlace
    seed: DiskPlace
    nic_bus: str
    nic_slots: tuple[int, ...]
    add_serial: bool


def place_devices(facts: TemplateFacts, boot: TemplateDisk | None, *, source: str = "template") -> Placement:
    if facts.arch not in ("x86_64", "i686") or facts.family not in ("pc", "q35"):
        raise InvalidInput(f"{source} is for machine {facts.machine!r} ({facts.arch}); vmctl places its disk, "
                           "seed and NIC on x86 'pc' (i440FX) and 'q35' machines",
                           hint="use machine='q35' or machine='pc' in <os><type>")
    if boot is not None:
        disk = DiskPlace(boot.target, boot.bus, replaces=boot.index)
    else:
        disk = DiskPlace(_free_name(facts, "vd"), "virtio")
    return Placement(disk, _seed(facts), "pcie.0" if facts.family == "q35" else "pci.0",
                     tuple(s for s in NIC_PCI_SLOTS if (0, s) not in facts.pci_slots), facts.serial0 is None)


def _seed(facts: TemplateFacts) -> DiskPlace:
    usable = {"sata", "scsi", "usb"} | ({"ide"} if facts.has_ide else set())
    for disk in facts.disks:
        if disk.device == "cdrom" and disk.bus in usable:
            return DiskPlace(disk.target, disk.bus, replaces=disk.index)
    if facts.has_ide:
        used = {d.target for d in facts.disks} | {_ide_slot(d) for d in facts.disks if d.bus == "ide"}
        for target in ("hdc", "hdd", "hdb", "hda"):
            if target not in used and IDE_SLOTS[target] not in used:
                bus, unit = IDE_SLOTS[target]
                return DiskPlace(target, "ide", address=(0, bus, 0, unit))
        raise InvalidInput("the template's IDE slots are all taken: no room for vmctl's seed CD-ROM",
                           hint="free one of hda..hdd in the template")
    taken = {_sata_unit(d) for d in facts.disks if d.bus == "sata"}
    for unit in range(SATA_PORTS):
        if (0, unit) not in taken:
            return DiskPlace(_free_name(facts, "sd"), "sata", address=(0, 0, 0, unit))
    raise InvalidInput("the template's first SATA controller is full: no room for vmctl's seed CD-ROM",
                       hint="move a device off SATA controller 0")


def _free_name(facts: TemplateFacts, prefix: str) -> str:
    used = {d.target for d in facts.disks}
    for letter in string.ascii_lowercase:
        if prefix + letter not in used:
            return prefix + letter
    raise InvalidInput(f"no free {prefix}X disk target in the template", hint="the template has too many disks")


def _ide_slot(disk: TemplateDisk) -> tuple[int, int] | str:
    if disk.drive_address is not None:
        return disk.drive_address[1], disk.drive_address[3]
    return IDE_SLOTS.get(disk.target, disk.target)


def _sata_unit(disk: TemplateDisk) -> tuple[int, int]:
    if disk.drive_address is not None:
        return disk.drive_address[0], disk.drive_address[3]
    index = string.ascii_lowercase.find(disk.target[2:3]) if disk.target.startswith("sd") else 0
    return divmod(max(index, 0), SATA_PORTS)
