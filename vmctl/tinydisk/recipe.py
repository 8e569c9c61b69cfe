"""What goes into the disk-boot variant of the tiny guest, and its recipe id."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
FILES_DIR = PACKAGE_DIR / "files"

RECIPE_FORMAT = 1
# Bootloaders: GRUB for BIOS (grub-mkimage from grub-common makes core.img), and
# Debian's signed shim + GRUB for UEFI (they boot with Secure Boot enforced too).
PACKAGES: tuple[str, ...] = ("grub-common", "grub-pc-bin", "grub-efi-amd64-signed", "shim-signed")
# Modules on top of tiny's: disks and CD-ROMs on SATA (q35's AHCI) and virtio-scsi.
EXTRA_MODULES: tuple[str, ...] = ("libahci", "ahci", "sd_mod", "virtio_scsi")
ESP_LABEL = "TINYESP"
ESP_SIZE_MIB = 64
ROOT_LABEL = "tinyroot"   # tiny's root filesystem label
CMDLINE = f"console=ttyS0 root=LABEL={ROOT_LABEL} rw quiet"
GRUB_BIOS_MODULES: tuple[str, ...] = ("biosdisk", "part_msdos", "fat", "linux", "normal", "configfile",
                                      "echo", "test", "serial", "terminal")


def grub_cfg() -> str:
    """The one GRUB configuration, read by the BIOS and the UEFI GRUB alike."""
    return "\n".join([
        "set timeout=0",
        "set default=0",
        'menuentry "tinydisk" {',
        f"    linux /vmlinuz {CMDLINE}",
        "    initrd /initrd.img",
        "}",
        "",
    ])


def disk_recipe_id(tiny_recipe: str) -> str:
    """Hash of tiny's recipe id, the package list and this package's code and files."""
    digest = hashlib.sha256()
    lists = f"format={RECIPE_FORMAT}\ntiny={tiny_recipe}\npackages={','.join(PACKAGES)}\n" \
            f"modules={','.join(EXTRA_MODULES)}\nesp={ESP_LABEL},{ESP_SIZE_MIB}\ncmdline={CMDLINE}\n"
    inputs = [("recipe", lists.encode())]
    inputs += [("py/" + p.name, p.read_bytes()) for p in sorted(PACKAGE_DIR.glob("*.py"))]
    inputs += [("files/" + p.relative_to(FILES_DIR).as_posix(), p.read_bytes())
               for p in sorted(FILES_DIR.rglob("*")) if p.is_file()]
    for name, content in inputs:
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:16]
