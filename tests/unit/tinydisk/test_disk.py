"""The boot disk's layout: MBR partition table, GRUB's boot sector and core image."""

import struct

import pytest

from vmctl.errors import OperationFailed
from vmctl.tinydisk import disk, recipe
from vmctl.tinyguest import recipe_id as tiny_recipe_id


def test_partition_table_is_a_valid_mbr_tail():
    parts = [disk.Partition(2048, 131072, disk.TYPE_ESP, bootable=True), disk.Partition(133120, 524288, 0x83)]
    tail = disk.partition_table(parts, 0x12345678)
    assert len(tail) == 512 - 440 and tail.endswith(b"\x55\xaa")
    assert struct.unpack_from("<I", tail, 0)[0] == 0x12345678
    status, kind, start, sectors = tail[6], tail[6 + 4], *struct.unpack_from("<II", tail, 6 + 8)
    assert (status, kind, start, sectors) == (0x80, 0xEF, 2048, 131072)
    assert tail[22] == 0 and tail[22 + 4] == 0x83 and struct.unpack_from("<II", tail, 22 + 8) == (133120, 524288)
    assert tail[38:70] == b"\0" * 32  # unused entries


def test_boot_sector_points_at_core_and_skips_the_floppy_check():
    code = disk.boot_sector(bytes(range(256)) * 2, 1)
    assert len(code) == 440
    assert struct.unpack_from("<Q", code, disk.KERNEL_SECTOR_OFFSET)[0] == 1
    assert code[disk.DRIVE_CHECK_OFFSET:disk.DRIVE_CHECK_OFFSET + 2] == b"\x90\x90"
    with pytest.raises(OperationFailed):
        disk.boot_sector(b"short", 1)


def test_core_blocklist_names_the_sectors_after_the_first():
    core = bytearray(512 * 3 + 100)
    struct.pack_into("<QHH", core, disk.BLOCKLIST_OFFSET, 2, 0, 0x820)
    placed = disk.place_core(bytes(core), 1)
    assert len(placed) == 512 * 4
    assert struct.unpack_from("<QHH", placed, disk.BLOCKLIST_OFFSET) == (2, 3, 0x820)
    with pytest.raises(OperationFailed, match="too large"):
        disk.place_core(bytes(512 * 2048), 1)


def test_assemble_puts_each_image_at_its_partition(tmp_path):
    esp, root = tmp_path / "esp", tmp_path / "root"
    esp.write_bytes(b"E" * 5000)
    root.write_bytes(b"R" * 3000)
    out = tmp_path / "disk"
    parts = disk.assemble(out, boot_img=b"\xeb" * 512, core_img=bytes(600), esp=esp, root=root)
    data = out.read_bytes()
    assert data[510:512] == b"\x55\xaa"
    assert data[parts[0].start * 512: parts[0].start * 512 + 5000] == b"E" * 5000
    assert parts[1].start % 2048 == 0 and data[parts[1].start * 512:][:3000] == b"R" * 3000


def test_recipe_id_follows_tiny_and_is_apart_from_it():
    rid = recipe.disk_recipe_id(tiny_recipe_id())
    assert rid != tiny_recipe_id() and len(rid) == 16
    assert recipe.disk_recipe_id("other") != rid
    assert "root=LABEL=tinyroot" in recipe.grub_cfg()
