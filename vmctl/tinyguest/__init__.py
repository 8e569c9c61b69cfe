"""The embedded default guest "tiny": built from Debian packages, cached per recipe.

A Debian kernel booted directly, a busybox initramfs that loads the virtio,
ext4, CD-ROM and ACPI button modules, and an ext4 root (qcow2) with busybox
and dropbear. The guest reads a NoCloud seed and prints ``vmctl-guest: ...``
lines on ttyS0 (see ``files/rootfs/etc/vmctl/boot.sh``).
"""

from vmctl.tinyguest.build import TinyGuest, build_tiny_guest, cached_tiny_guest, recipe_id

__all__ = ["TinyGuest", "build_tiny_guest", "cached_tiny_guest", "recipe_id"]
