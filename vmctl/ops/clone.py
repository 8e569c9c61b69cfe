"""`vmctl clone SRC NEW [--full]`: a new VM with SRC's disks and a new identity.

    lock NEW (record) and SRC -> copy each disk at one instant:
        SRC off:     qemu-img convert of its disk
        SRC running: a libvirt push backup of all its disks (one consistent point,
                     the guest keeps running), then that copy
      linked (default): NEW's disk holds what differs from SRC's base image, backed
                        by that image (as `create` makes disks); --full: standalone
    -> a new seed (new instance-id: the guest takes a new host key and hostname, as
       cloud-init does) -> SRC's definition with a new name, UUID, MACs, port,
       pinned host key, the new volumes -> define (not started)

Each copy is written beside its volume (a `.partial-` file, recorded) and renamed
over it once complete: a kill leaves a recorded partial file, never a volume with
half a disk in it.
"""

from __future__ import annotations

import os
import secrets
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput
from vmctl.guest.cloudconfig import build_user_data
from vmctl.libvirtxml.backup import push_backup_xml
from vmctl.libvirtxml.edits import as_restored
from vmctl.libvirtxml.facts import DomainFacts, parse_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local import qemuimg
from vmctl.local.net import port_is_free
from vmctl.local.testhooks import checkpoint
from vmctl.policy.resources import check_space
from vmctl.ops.create import make_seed
from vmctl.ops.images import ImageStore
from vmctl.ops.resolve import random_mac
from vmctl.ops.safety.operation import Operation
from vmctl.ops.vms import VmInfo, info_of, update_meta, used_ssh_ports
from vmctl.policy.ports import pick_ssh_port
from vmctl.spec.names import check_name
from vmctl.spec.volumes import clean_seed_volume, disk_volume, seed_volume, staged_backup_file
from vmctl.ssh.keys import ensure_user_key, generate_ed25519, public_line_of
from vmctl.virt import domains
from vmctl.virt.backup import push_backup
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class CloneResult:
    info: VmInfo
    source: str
    linked: bool
    from_running: bool

    def to_dict(self) -> dict[str, object]:
        return {"vm": self.info.to_dict(), "source": self.source, "linked": self.linked,
                "from_running": self.from_running}


def clone_vm(host: Host, pool: Pool, src: str, new: str, *, full: bool = False) -> CloneResult:
    check_name(src)
    check_name(new)
    if src == new:
        raise InvalidInput("a clone needs a new name", hint="vmctl clone SRC NEW")
    if not host.is_local:
        raise InvalidInput("vmctl clones VMs of this machine's libvirt only",
                           hint="run vmctl clone on the VM's host (e.g. over ssh)")
    domains.ensure_absent(host, new)
    with Operation(host, pool, "clone-source", src), Operation(host, pool, "clone", new) as op:
        dom = domains.lookup(host, src)
        facts = parse_domain(dom.xml(inactive=True))
        disks, seed_target = _disks(src, facts)
        running = dom.state() in ("running", "paused")
        _check_space(pool, src, disks, running=running, full=full)
        staged = {t: Path(pool.path) / staged_backup_file(new, secrets.token_hex(4), t) for t in disks}
        for path in staged.values():
            op.will("partial", str(path))
            op.on_undo(path.unlink, True)
        if running:  # one instant for every disk, the guest running on
            push_backup(dom, push_backup_xml({d.target: str(staged.get(d.target)) if d.target in staged else None
                                              for d in facts.disks}),
                        timeout=max(60.0, qemuimg.SECONDS_PER_GIB * _total_gib(disks)))
        checkpoint("clone:copied")
        sources, volumes = {}, []
        for target, path in disks.items():
            sources[target] = _make_disk(op, pool, new, target, path, staged[target], running=running, full=full)
            volumes.append(disk_volume(new, target))
        checkpoint("clone:disks")
        host_key = generate_ed25519()
        new_uuid = str(uuidlib.uuid4())
        if seed_target is not None:
            volume = seed_volume(new)
            op.will("volume", volume)
            sources[seed_target] = make_seed(op, pool, volume, instance_id=new_uuid, hostname=new,
                                             user_data=_user_data(host, pool, facts, new, host_key))
            volumes.append(volume)
        port = None
        if facts.meta.ssh_port:
            port = pick_ssh_port(used_ssh_ports(host), is_free=port_is_free)
        op.will("domain", new, new_uuid)
        clone = domains.define(host, as_restored(dom.xml(inactive=True), name=new, uuid=new_uuid,
                                                 disk_sources=sources, ssh_port=port,
                                                 macs=[random_mac() for _ in range(8)], volumes=tuple(volumes)))
        op.on_undo(clone.undefine)
        update_meta(clone, ssh_host_key=host_key.public_line, provisioned=(), snapshots=())
        checkpoint("clone:defined")
        op.commit()
    return CloneResult(info_of(host, clone), src, not full, running)


def _disks(src: str, facts: DomainFacts) -> tuple[dict[str, str], str | None]:
    """SRC's disks to copy (target -> path) and the target of its seed CD-ROM (replaced)."""
    disks, seed = {}, None
    for disk in facts.disks:
        if not disk.path:
            continue
        if disk.device == "cdrom":
            if seed is None and Path(disk.path).name in {seed_volume(src), clean_seed_volume(src)}:
                seed = disk.target
                continue
            raise InvalidInput(f"{src} has a CD-ROM ({disk.path}) that is not its seed",
                               hint="eject it first (a clone copies disks and makes a new seed)")
        disks[disk.target] = disk.path
    if not disks:
        raise InvalidInput(f"{src} has no disk to copy", hint="clone VMs that vmctl created")
    return disks, seed


def _make_disk(op: Operation, pool: Pool, new: str, target: str, source: str, staged: Path, *,
               running: bool, full: bool) -> str:
    """NEW's volume for disk ``target``, filled from ``source`` (or the backup copy in
    ``staged``) through a partial file renamed over it."""
    volume = disk_volume(new, target)
    copied = str(staged) if running else source
    backing = None if full else qemuimg.info(source).get("full-backing-filename")
    size = int(qemuimg.info(copied)["virtual-size"])
    op.will("volume", volume)
    created = pool.create_volume(volume_xml(volume, size, "qcow2"))
    op.on_undo(pool.delete_volume, volume)
    partial = staged.with_name(staged.name + ".out")
    op.will("partial", str(partial))
    op.on_undo(partial.unlink, True)
    qemuimg.convert(copied, str(partial), backing=backing)
    os.chmod(partial, 0o600)
    os.replace(partial, created.path)
    staged.unlink(missing_ok=True)
    pool.refresh()
    return created.path


def _user_data(host: Host, pool: Pool, facts: DomainFacts, new: str, host_key) -> dict:
    meta = facts.meta
    store = ImageStore(host, pool)
    default_user = store.get(meta.image).default_user if meta.image and store.exists(meta.image) else meta.ssh_user
    key = Path(meta.ssh_key_path) if meta.ssh_key_path else ensure_user_key()
    return build_user_data(hostname=new, user=meta.ssh_user, default_user=default_user,
                           authorized_key=public_line_of(key), host_key=host_key)


def _check_space(pool: Pool, src: str, disks: dict[str, str], *, running: bool, full: bool) -> None:
    """Before anything is copied: a running VM's disks are first copied whole (flattened)
    beside the pool's volumes; then each becomes a standalone copy (--full) or a layer on
    the image holding what SRC's own layer holds."""
    flat = sum(qemuimg.measure(p) for p in disks.values()) if running or full else 0
    layers = flat if full else sum(qemuimg.allocated(p) for p in disks.values())
    hint = "free space in the pool" + (", or make a linked clone (no --full)" if full else "") + (
        ", or clone it shut off (no staged copy)" if running else "")
    pool.refresh()
    check_space(needed=layers + (flat if running else 0), available=pool.available(), where=f"pool {pool.name}",
                what=f"a {'full' if full else 'linked'} clone of {src}", hint=hint)


def _total_gib(disks: dict[str, str]) -> float:
    return sum(int(qemuimg.info(p)["virtual-size"]) for p in disks.values()) / 2**30
