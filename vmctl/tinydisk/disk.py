"""Laying out the boot disk: an MBR partition table (an EFI system partition, then
the root filesystem), GRUB's boot sector in the MBR and its core image in the gap
before the first partition. Pure byte work, no tools."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import OperationFailed

SECTOR = 512
FIRST_LBA = 2048              # 1 MiB: partitions start here, GRUB's core image lives before
BOOT_CODE_BYTES = 440         # the MBR's code area (then disk signature and partition table)
KERNEL_SECTOR_OFFSET = 0x5C   # boot.img: where to find core.img (LBA, 8 bytes)
DRIVE_CHECK_OFFSET = 0x66     # boot.img: a jmp that grub-bios-setup turns into NOPs on hard disks
BLOCKLIST_OFFSET = SECTOR - 12  # diskboot.img: the first blocklist (start LBA, count, segment)
TYPE_ESP = 0xEF
TYPE_LINUX = 0x83


@dataclass(frozen=True)
class Partition:
    start: int   # LBA
    sectors: int
    kind: int
    bootable: bool = False


def partition_table(parts: list[Partition], signature: int) -> bytes:
    """Bytes 440..511 of the MBR: disk signature, four entries, 0x55AA."""
    if len(parts) > 4:
        raise OperationFailed("an MBR holds at most four partitions")
    out = struct.pack("<IH", signature, 0)
    for part in parts:
        # CHS fields say "use LBA" (the maximum), as every current tool writes them.
        out += struct.pack("<B3sB3sII", 0x80 if part.bootable else 0, b"\xfe\xff\xff", part.kind,
                           b"\xfe\xff\xff", part.start, part.sectors)
    out += b"\0" * 16 * (4 - len(parts))
    return out + b"\x55\xaa"


def boot_sector(boot_img: bytes, core_lba: int) -> bytes:
    """GRUB's boot.img code patched the way grub-bios-setup does for a hard disk."""
    if len(boot_img) != SECTOR:
        raise OperationFailed(f"GRUB boot.img has {len(boot_img)} bytes, expected {SECTOR}")
    code = bytearray(boot_img[:BOOT_CODE_BYTES])
    code[KERNEL_SECTOR_OFFSET:KERNEL_SECTOR_OFFSET + 8] = struct.pack("<Q", core_lba)
    code[DRIVE_CHECK_OFFSET:DRIVE_CHECK_OFFSET + 2] = b"\x90\x90"
    return bytes(code)


def place_core(core_img: bytes, core_lba: int) -> bytes:
    """core.img with its first blocklist naming the sectors after its first one."""
    sectors = -(-len(core_img) // SECTOR)
    if core_lba + sectors > FIRST_LBA:
        raise OperationFailed(f"GRUB core image too large for the MBR gap ({sectors} sectors)")
    core = bytearray(core_img + b"\0" * (sectors * SECTOR - len(core_img)))
    start, _count, segment = struct.unpack_from("<QHH", core, BLOCKLIST_OFFSET)
    struct.pack_into("<QHH", core, BLOCKLIST_OFFSET, core_lba + 1, sectors - 1, segment)
    return bytes(core)


def assemble(dest: Path, *, boot_img: bytes, core_img: bytes, esp: Path, root: Path,
             signature: int = 0x766D6374) -> list[Partition]:
    """Write the raw disk ``dest``: MBR, GRUB core, ESP image, root filesystem image."""
    esp_sectors = -(-esp.stat().st_size // SECTOR)
    root_sectors = -(-root.stat().st_size // SECTOR)
    esp_part = Partition(FIRST_LBA, esp_sectors, TYPE_ESP, bootable=True)
    root_start = FIRST_LBA + -(-esp_sectors // FIRST_LBA) * FIRST_LBA  # 1 MiB aligned
    parts = [esp_part, Partition(root_start, root_sectors, TYPE_LINUX)]
    with open(dest, "wb") as out:
        out.write(boot_sector(boot_img, 1) + partition_table(parts, signature))
        out.write(place_core(core_img, 1))
        for part, image in zip(parts, (esp, root)):
            out.seek(part.start * SECTOR)
            with open(image, "rb") as src:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
        out.truncate((root_start + root_sectors) * SECTOR)
    return parts
