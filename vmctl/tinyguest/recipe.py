"""What goes into the tiny guest, and the recipe id that names a built guest."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
FILES_DIR = PACKAGE_DIR / "files"

RECIPE_FORMAT = 1
KERNEL_META_PACKAGE = "linux-image-amd64"
PACKAGES: tuple[str, ...] = (
    "busybox-static",
    "dropbear-bin",
    "libtomcrypt1",
    "libtommath1",
    "libgmp10",
    "zlib1g",
    "libcrypt1",
    "libc6",
    "openssh-sftp-server",
)
# Loaded by the initramfs; the build adds missing dependencies and sorts them
# so that every module comes after the ones it depends on.
MODULES: tuple[str, ...] = (
    "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev",
    "virtio_pci", "failover", "net_failover", "virtio_net", "virtio_blk", "virtio_rng", "virtio_balloon",
    "crc16", "mbcache", "jbd2", "crc32c_generic", "ext4",
    "scsi_common", "scsi_mod", "libata", "ata_piix", "cdrom", "sr_mod", "isofs",
    "button", "evdev",
)
# Binaries (paths inside the unpacked packages) copied to the root filesystem
# with the shared libraries they need.
ROOTFS_BINARIES: tuple[str, ...] = (
    "usr/sbin/dropbear",
    "usr/bin/dropbearkey",
    "usr/bin/dropbearconvert",
    "usr/lib/openssh/sftp-server",
)
CMDLINE = "console=ttyS0 root=/dev/vda rw quiet"
ROOTFS_SIZE_MIB = 256
ROOTFS_LABEL = "tinyroot"


def _recipe_inputs(files_dir: Path) -> list[tuple[str, bytes]]:
    """Everything that shapes the built guest, as (name, content) pairs."""
    lists = "\n".join(
        [
            f"format={RECIPE_FORMAT}",
            f"kernel={KERNEL_META_PACKAGE}",
            "packages=" + ",".join(PACKAGES),
            "modules=" + ",".join(MODULES),
            "binaries=" + ",".join(ROOTFS_BINARIES),
            f"cmdline={CMDLINE}",
            f"size={ROOTFS_SIZE_MIB}",
            f"label={ROOTFS_LABEL}",
        ]
    )
    inputs = [("recipe", lists.encode())]
    for path in sorted(PACKAGE_DIR.glob("*.py")):
        inputs.append(("py/" + path.name, path.read_bytes()))
    for path in sorted(p for p in files_dir.rglob("*") if p.is_file()):
        inputs.append(("files/" + path.relative_to(files_dir).as_posix(), path.read_bytes()))
    return inputs


def recipe_id(files_dir: Path | None = None) -> str:
    """Short hash of the recipe: package and module lists, guest files, builder code."""
    digest = hashlib.sha256()
    for name, content in _recipe_inputs(files_dir or FILES_DIR):
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:16]
