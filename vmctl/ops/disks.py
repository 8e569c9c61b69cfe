"""Extra disks of a VM: add (a new volume, attached live and to the definition), rm
(detached; deleted when it is the VM's own), ls, and resize (grow, live where the VM
runs, then the guest's file system over SSH where it can be)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from vmctl.errors import Conflict, InvalidInput, NotFound, VmctlError
from vmctl.guest.access import GuestAccess
from vmctl.libvirtxml.domain import disk_device_xml
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.vms import DiskInfo, info_of, update_meta
from vmctl.policy.resources import check_space
from vmctl.spec.domain import DiskSpec
from vmctl.spec.names import check_name
from vmctl.spec.units import format_size
from vmctl.spec.volumes import disk_volume
from vmctl.virt import domains
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

_TARGETS = [f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz"]
# One fixed script (never formatted): grow the file system on $1 (a whole disk, or its
# first partition with growpart), where the guest has the tools.
GROW_SCRIPT = r"""
dev=$1
part=$dev
if [ -b "${dev}1" ]; then
    if command -v growpart >/dev/null 2>&1; then growpart "$dev" 1 >/dev/null || true; else
        echo "the disk is partitioned and the guest has no growpart: grow ${dev}1 yourself"; exit 3; fi
    part=${dev}1
fi
command -v blkid >/dev/null 2>&1 || { echo "the guest has no blkid: grow the file system on $part yourself"; exit 3; }
fstype=$(blkid -o value -s TYPE "$part" 2>/dev/null)
case "$fstype" in
    ext2|ext3|ext4) resize2fs "$part" >/dev/null 2>&1 && echo "grew $fstype on $part" ;;
    xfs) mnt=$(awk -v d="$part" '$1 == d {print $2; exit}' /proc/mounts)
         [ -n "$mnt" ] && xfs_growfs "$mnt" >/dev/null && echo "grew xfs on $part" ;;
    "") echo "no file system on $part: nothing to grow"; exit 3 ;;
    *) echo "the guest cannot grow $fstype on $part here: grow it yourself"; exit 3 ;;
esac
"""


@dataclass(frozen=True)
class DiskChange:
    vm: str
    target: str
    path: str
    size: int
    live: bool          # the running guest sees it now
    note: str = ""      # what happened in the guest, or why not

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _own_path(pool: Pool, vm: str, target: str) -> str:
    return f"{pool.path}/{disk_volume(vm, target)}"


def list_disks(host: Host, name: str) -> list[DiskInfo]:
    return info_of(host, domains.lookup(host, check_name(name))).disks


def add_disk(host: Host, pool: Pool, name: str, size: int, *, target: str | None = None) -> DiskChange:
    with Operation(host, pool, "disk-add", check_name(name)) as op:
        dom = domains.lookup(host, name)
        facts = parse_domain(dom.xml(inactive=True))
        used = {d.target for d in facts.disks}
        target = target or next((t for t in _TARGETS if t not in used), None)
        if target is None or target in used:
            raise Conflict(f"{name} has a disk {target} already" if target else f"{name} has no free vdX target",
                           hint=f"see `vmctl disk ls {name}`")
        DiskSpec(path="/", target=target)  # checks the target's form
        if not target.startswith("vd"):
            raise InvalidInput(f"target {target}: extra disks are virtio (vdb, vdc, ...)", hint="e.g. --target vdb")
        pool.refresh()
        check_space(needed=size, available=pool.available(), where=f"pool {pool.name}",
                    what=f"a {format_size(size)} disk", hint="give a smaller size")
        volume = disk_volume(name, target)
        op.will("volume", volume)
        created = pool.create_volume(volume_xml(volume, size, "qcow2"))
        op.on_undo(pool.delete_volume, volume)
        checkpoint("disk-add:volume")
        op.will("attachment", f"{name}/{target}", dom.uuid)
        dom.attach_device(disk_device_xml(DiskSpec(created.path, target=target)))
        op.on_undo(detach_own_disk, dom, pool, target)
        checkpoint("disk-add:attached")
        update_meta(dom, volumes=(*facts.meta.volumes, volume))
        op.commit()
    return DiskChange(name, target, created.path, size, dom.is_active())


def remove_disk(host: Host, pool: Pool, name: str, target: str, *, keep: bool = False) -> DiskChange:
    """Detach ``target``; delete its volume when it is the VM's own (unless ``keep``)."""
    with Operation(host, pool, "disk-rm", check_name(name), finishes=True) as op:
        dom = domains.lookup(host, name)
        facts = parse_domain(dom.xml(inactive=True))
        disk = next((d for d in facts.disks if d.target == target), None)
        if disk is None:
            raise NotFound(f"{name} has no disk {target}", hint=f"see `vmctl disk ls {name}`")
        if target == "vda" or disk.device == "cdrom":
            raise Conflict(f"{target} of {name} is its {'boot disk' if target == 'vda' else 'CD-ROM'}",
                           hint="only extra disks are removed this way")
        own = disk.path == _own_path(pool, name, target) and disk_volume(name, target) in facts.meta.volumes
        op.will("attachment", f"{name}/{target}", dom.uuid)
        if own and not keep:
            op.will("volume", disk_volume(name, target))
        dom.detach_device(disk_device_xml(DiskSpec(disk.path or "", target=target, format=disk.format)))
        checkpoint("disk-rm:detached")
        if own:
            update_meta(dom, volumes=tuple(v for v in facts.meta.volumes if v != disk_volume(name, target)))
        if own and not keep:
            pool.delete_volume(disk_volume(name, target))
    return DiskChange(name, target, disk.path or "", 0, dom.is_active(),
                      "volume deleted" if own and not keep else "detached; the volume stays")


def detach_own_disk(dom: Domain, pool: Pool, target: str) -> bool:
    """Detach disk ``target`` if it is the VM's own volume for that target; False if
    it is not attached (or is something else)."""
    for inactive in (True, False):
        facts = parse_domain(dom.xml(inactive=inactive))
        disk = next((d for d in facts.disks if d.target == target), None)
        if disk is not None and disk.path == _own_path(pool, dom.name, target):
            dom.detach_device(disk_device_xml(DiskSpec(disk.path, target=target, format=disk.format)))
            return True
    return False


def resize_disk(host: Host, pool: Pool, access: GuestAccess, name: str, target: str, size: int) -> DiskChange:
    """Grow ``target`` to ``size`` bytes; never shrinks (a file system would lose data)."""
    with Operation(host, pool, "disk-resize", check_name(name)):
        dom = domains.lookup(host, name)
        facts = parse_domain(dom.xml(inactive=True))
        disk = next((d for d in facts.disks if d.target == target and d.device == "disk"), None)
        if disk is None or not disk.path:
            raise NotFound(f"{name} has no disk {target}", hint=f"see `vmctl disk ls {name}`")
        volume = next((v for v in pool.volumes() if v.path == disk.path), None)
        if volume is None:
            raise Conflict(f"{target} of {name} is not in pool {pool.name}", hint="vmctl resizes its own volumes")
        if size <= volume.capacity:
            raise InvalidInput(f"{target} of {name} is {format_size(volume.capacity)} already; vmctl only grows disks",
                               hint=f"give a size larger than {format_size(volume.capacity)}")
        running = dom.is_active()
        if running:
            dom.block_resize(target, size)
        else:
            pool.resize_volume(volume.name, size)
    change = DiskChange(name, target, disk.path, size, running, "" if running else "the file system grows when "
                        "you grow it in the guest (e.g. resize2fs) after the next start")
    return replace(change, note=_grow_in_guest(access, name, target)) if running else change


def _grow_in_guest(access: GuestAccess, name: str, target: str) -> str:
    try:
        with access.session(name) as session:
            result = session.run(("sh", "-c", GROW_SCRIPT, "vmctl-grow", f"/dev/{target}"), timeout=120)
    except VmctlError as exc:
        return f"the disk grew; the guest could not be reached to grow its file system ({exc.message})"
    text = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
    return text or ("grew the file system" if result.exit_status == 0 else f"exit {result.exit_status}")
