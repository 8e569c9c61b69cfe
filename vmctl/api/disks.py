"""The disk half of :class:`vmctl.api.Vmctl`: extra disks of a VM (a mixin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmctl.ops.disks import DiskChange
    from vmctl.ops.vms import DiskInfo


class DiskApi:
    def disk_list(self, name: str) -> "list[DiskInfo]":
        """The VM's disks and CD-ROMs (target, path, size, base image)."""
        from vmctl.ops.disks import list_disks

        return list_disks(self.host, name)  # type: ignore[attr-defined]

    def disk_add(self, name: str, size: str | int, *, target: str | None = None) -> "DiskChange":
        """A new empty qcow2 volume of ``size`` attached as ``target`` (default: the next
        free vdX), to the running guest too; removed with the VM."""
        from vmctl.ops.disks import add_disk
        from vmctl.spec.units import parse_size

        size_bytes = parse_size(size, default_unit="m") if isinstance(size, str) else size
        return add_disk(self.host, self.pool, name, size_bytes, target=target)  # type: ignore[attr-defined]

    def disk_remove(self, name: str, target: str, *, keep: bool = False) -> "DiskChange":
        """Detach ``target`` (not the boot disk); its volume is deleted if it is the VM's
        own, unless ``keep``."""
        from vmctl.ops.disks import remove_disk

        return remove_disk(self.host, self.pool, name, target, keep=keep)  # type: ignore[attr-defined]

    def disk_resize(self, name: str, target: str, size: str | int) -> "DiskChange":
        """Grow ``target`` to ``size`` (live if the VM runs, then its file system over SSH
        where the guest can); never shrinks."""
        from vmctl.ops.disks import resize_disk
        from vmctl.spec.units import parse_size

        size_bytes = parse_size(size, default_unit="m") if isinstance(size, str) else size
        return resize_disk(self.host, self.pool, self.guest(), name, target, size_bytes)  # type: ignore[attr-defined]
