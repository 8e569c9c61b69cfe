"""Where vmctl's own devices go, per machine type and template contents."""

import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.templatefacts import boot_disk
from vmctl.policy.devices import place_devices
from vmctl.spec.template import TemplateDisk, TemplateFacts


def place(**kw):
    facts = TemplateFacts(**kw)
    return place_devices(facts, boot_disk(facts.disks))


def test_pc_without_disks_gets_virtio_disk_ide_seed_pci0_nic_and_a_serial():
    p = place(machine="pc-i440fx-7.2")
    assert (p.disk.target, p.disk.bus, p.disk.replaces) == ("vda", "virtio", None)
    assert (p.seed.target, p.seed.bus, p.seed.address) == ("hdc", "ide", (0, 1, 0, 0))
    assert (p.nic_bus, p.nic_slots[0], p.add_serial) == ("pci.0", 0x10, True)


def test_q35_never_uses_ide_and_plugs_the_nic_into_pcie0():
    p = place(machine="pc-q35-7.2", serial0="pty")
    assert (p.seed.bus, p.seed.target, p.seed.address) == ("sata", "sda", (0, 0, 0, 0))
    assert p.nic_bus == "pcie.0" and not p.add_serial


def test_the_templates_boot_disk_and_cdrom_are_taken_over():
    disks = (TemplateDisk(0, "cdrom", "sata", "sdb", boot_order=1), TemplateDisk(1, "disk", "sata", "sda", "file",
                                                                              "/x.qcow2", boot_order=2))
    p = place(machine="q35", disks=disks)
    assert (p.disk.target, p.disk.bus, p.disk.replaces) == ("sda", "sata", 1)
    assert (p.seed.target, p.seed.bus, p.seed.replaces) == ("sdb", "sata", 0)


def test_free_slots_avoid_the_templates_targets_and_addresses():
    disks = (TemplateDisk(0, "disk", "ide", "hdc"), TemplateDisk(1, "disk", "ide", "hda", drive_address=(0, 1, 0, 1)))
    p = place(machine="pc", disks=disks)
    assert p.seed.target == "hdb" and p.seed.address == (0, 0, 0, 1)  # hdd's slot (1, 1) is taken by hda
    sata = (TemplateDisk(0, "disk", "sata", "sda"), TemplateDisk(1, "disk", "sata", "sdb"))
    assert place(machine="q35", disks=sata).seed.address == (0, 0, 0, 2)
    assert place(machine="q35", pci_slots=frozenset({(0, 0x10), (0, 0x11)})).nic_slots[0] == 0x12


def test_other_machines_are_refused_with_a_hint():
    with pytest.raises(InvalidInput, match="x86 'pc'") as caught:
        place(machine="virt", arch="aarch64")
    assert "q35" in caught.value.hint
