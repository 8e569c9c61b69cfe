"""The embedded guest as a disk-boot image, ``tinydisk``: tiny's kernel, initramfs and
root filesystem on a partitioned disk with a bootloader for BIOS (GRUB i386-pc in the
MBR gap) and UEFI (Debian's signed shim and GRUB on an EFI system partition, so it
boots with Secure Boot enforced too).

Built from the tiny build's outputs (see :mod:`vmctl.tinyguest`) plus Debian packages;
nothing here is part of tiny's recipe, so changing it never rebuilds ``tiny``.
"""

from vmctl.tinydisk.build import TinyDisk, build_tinydisk, disk_recipe_id

__all__ = ["TinyDisk", "build_tinydisk", "disk_recipe_id"]
