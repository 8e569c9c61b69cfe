"""Backup and restore: a self-contained, checked copy of a VM, and a new VM from it.

A backup is a directory: ``disk-<target>.qcow2`` per disk (flattened from its
backing chain), ``disk-<target>.iso`` per CD-ROM (the clean seed), ``kernel`` and
``initrd`` for a VM that boots its kernel directly, ``domain.xml``
(the definition with vmctl's metadata) and ``manifest.json`` (what each file is,
its size and sha256). A running VM is copied without stopping it, through
libvirt's backup API (QEMU writes the flattened copy while the guest goes on); a
shut-off one with ``qemu-img convert``. The directory appears only when complete.

A VM whose seed still holds its private SSH host key (made, never booted) is
refused: a backup holds no guest private key.

``restore`` treats the backup as untrusted input: the manifest's names and checksums
(ops.backupcheck), each disk like an imported image (no backing or data files), the
definition cleaned and refused like a template for ``template import``
(libvirtxml.restore), then the host pre-flight; it brings it back as a new VM (new
name, UUID, MACs, SSH port, its own NVRAM), on this host or another URI. A seed that
still holds a private key (a backup made before this check) is restored as the VM's
secret seed, retired once vmctl first verifies the guest's host key, like a created VM's. Nothing is
left when it fails: every step is recorded in the operation (``Operation``), and a
killed restore is undone by the next command (or ``vmctl repair``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass
from pathlib import Path

from vmctl import __version__
from vmctl.errors import Conflict, HostError, InvalidInput, NotFound, OperationFailed
from vmctl.libvirtxml.backup import push_backup_xml
from vmctl.libvirtxml.edits import as_restored
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.restore import restorable_xml
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local import diskimage, qemuimg
from vmctl.local.net import port_is_free
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.intents import read_record
from vmctl.ops.backupcheck import FORMAT, check_backup, sha256_of, still_plain
from vmctl.ops.safety.operation import Operation
from vmctl.ops.preflight import check_host
from vmctl.ops.resolve import random_mac
from vmctl.ops.seed import has_secret_seed, holds_private_key
from vmctl.spec.volumes import (PARTIAL_MARK, cdrom_volume, clean_seed_volume, disk_volume, restored_boot_volume,
                                seed_volume, staged_backup_file)
from vmctl.ops.vms import used_ssh_ports
from vmctl.policy.ports import pick_ssh_port
from vmctl.policy.resources import check_space
from vmctl.progress import Report, Step, reporter, transfer
from vmctl.spec.names import check_name
from vmctl.virt import domains
from vmctl.virt.backup import push_backup
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

SECONDS_PER_GIB = qemuimg.SECONDS_PER_GIB


@dataclass(frozen=True)
class BackupResult:
    vm: str
    path: str
    files: dict[str, int]  # file -> bytes
    seconds: float
    running: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def backup_vm(host: Host, pool: Pool, name: str, dest: Path, *, progress: Report | None = None) -> BackupResult:
    """Back VM ``name`` up into the new directory ``dest`` (see docs/snapshots.md); ``progress``
    hears the stages and the bytes of a running VM's backup job."""
    report = reporter(progress)
    if not host.is_local:
        raise HostError("vmctl backs up VMs of this machine's libvirt only",
                        hint="run vmctl backup on the VM's host (e.g. over ssh)")
    dest = Path(dest).absolute()
    if dest.exists():
        raise Conflict(f"{dest} exists already", hint="give a new directory for the backup")
    if not dest.parent.is_dir():
        raise NotFound(f"{dest.parent} does not exist", hint="create it first")
    started = time.monotonic()
    with Operation(host, pool, "backup", check_name(name)) as op:  # nothing else changes the VM meanwhile
        dom = domains.lookup(host, name)
        facts = parse_domain(dom.xml(inactive=True))
        if has_secret_seed(facts.meta.volumes, name):
            raise Conflict(f"{name} has not finished its first boot (its seed still holds its private host key), "
                           "and a backup holds no guest private key",
                           hint=f"start it and wait for it once (`vmctl start {name} && vmctl wait {name}`), "
                           "then back it up")
        running = dom.state() in ("running", "paused")
        _check_backup_space(pool, facts, dest, running)
        partial = Path(tempfile.mkdtemp(prefix=f".{dest.name}{PARTIAL_MARK}", dir=dest.parent))
        op.will("partial", str(partial))  # a killed backup's repair removes it
        op.on_undo(shutil.rmtree, partial, True)  # ignore_errors: what is gone is gone
        # QEMU writes a push backup where it can reach (the user's directory may be closed to
        # it): next to the VM's disks in the pool, then the copy moves into the backup.
        staged = {d.target: Path(pool.path) / staged_backup_file(name, secrets.token_hex(4), d.target)
                  for d in facts.disks if d.path and d.device != "cdrom"}
        for path in staged.values():
            op.will("partial", str(path))
            op.on_undo(_unlink, path)
        files: dict[str, dict[str, object]] = {}
        disks = [d for d in facts.disks if d.path]
        if running and staged:
            stage = f"copying the disks of running {name} (libvirt backup job)"
            report(Step(stage))
            targets = {d.target: (str(staged[d.target]) if d.target in staged else None) for d in facts.disks}
            total = sum(_virtual_size(d.path) for d in disks if d.device != "cdrom")
            push_backup(dom, push_backup_xml(targets), timeout=max(60.0, SECONDS_PER_GIB * total / 2**30),
                        progress=lambda done, all_: report(Step(stage, done, all_)))
            for target, path in staged.items():
                shutil.move(str(path), partial / f"disk-{target}.qcow2")
        for disk in disks:
            out = partial / (f"disk-{disk.target}.qcow2" if disk.device != "cdrom" else f"disk-{disk.target}.iso")
            if disk.device == "cdrom":
                shutil.copyfile(disk.path, out)
            elif not running:
                report(Step(f"flattening {disk.target} of {name}"))
                _convert(disk.path, out)
            os.chmod(out, 0o600)
            cdrom = disk.device == "cdrom"
            files[out.name] = {"role": "disk", "target": disk.target, "device": disk.device,
                               "format": "raw" if cdrom else "qcow2",
                               "virtual_size": out.stat().st_size if cdrom else _virtual_size(str(out))}
        for role, path in (("kernel", facts.kernel), ("initrd", facts.initrd)):  # direct kernel boot
            if path:
                shutil.copyfile(path, partial / role)
                os.chmod(partial / role, 0o600)
                files[role] = {"role": role}
        checkpoint("backup:copied")
        (partial / "domain.xml").write_text(dom.xml(inactive=True))
        os.chmod(partial / "domain.xml", 0o600)
        files["domain.xml"] = {"role": "definition"}
        report(Step("writing the manifest (sha256 of each file)"))
        for file, entry in files.items():
            entry.update(size=(partial / file).stat().st_size, sha256=sha256_of(partial / file))
        manifest = {"format": FORMAT, "vm": name, "created": time.time(), "vmctl": __version__,
                    "running": running, "files": files}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        os.chmod(partial / "manifest.json", 0o600)
        os.chmod(partial, 0o700)
        os.rename(partial, dest)
        op.commit()
    return BackupResult(name, str(dest), {f: int(e["size"]) for f, e in files.items()},
                        round(time.monotonic() - started, 3), running)


def _check_backup_space(pool: Pool, facts, dest: Path, running: bool) -> None:
    """Before anything is written: each disk flattened (and, for a running VM, first staged
    in the pool by the backup job), CD-ROMs and boot files copied as they are."""
    flat = sum(qemuimg.measure(d.path) for d in facts.disks if d.path and d.device != "cdrom")
    plain = sum(Path(p).stat().st_size for p in [*(d.path for d in facts.disks if d.path and d.device == "cdrom"),
                                                  facts.kernel, facts.initrd] if p)
    check_space(needed=flat + plain, available=shutil.disk_usage(dest.parent).free, where=str(dest.parent),
                what=f"a backup of {facts.name}", hint="give DEST on a file system with more room")
    if running and flat:
        pool.refresh()
        check_space(needed=flat, available=pool.available(), where=f"pool {pool.name}",
                    what=f"the backup job's copy of running {facts.name}",
                    hint="free space in the pool, or back it up shut off")


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _virtual_size(path: str) -> int:
    return int(qemuimg.info(path)["virtual-size"])


def _convert(source: str, dest: Path) -> None:
    qemuimg.convert(source, str(dest))


def verify_backup(src: Path) -> dict:
    """The manifest, once every file matches it; else InvalidInput naming the file."""
    return check_backup(src).manifest


def restore_vm(host: Host, pool: Pool, src: Path, *, name: str | None = None,
               progress: Report | None = None) -> str:
    """A new VM from a backup; returns its name. ``progress`` hears the stages and bytes uploaded."""
    report = reporter(progress)
    report(Step("checking the backup"))
    src = Path(src)
    backup = check_backup(src)
    manifest = backup.manifest
    new = check_name(name or manifest["vm"])
    if read_record(pool, new) is None:  # else a killed restore's half-made VM: the operation undoes it first
        domains.ensure_absent(host, new)
    disks = backup.disks
    for file, entry in disks.items():  # backup files are untrusted input too: no backing or data files
        info = diskimage.inspect(still_plain(src, file), str(entry["format"]))
        entry["virtual_size"] = info.virtual_size
    source = f"the definition (domain.xml) in backup {src}"
    boot_roles = frozenset(role for role in ("kernel", "initrd") if role in manifest["files"])
    xml, refused, facts = restorable_xml(
        backup.xml, disks={str(e["target"]): "cdrom" if e["device"] == "cdrom" else "disk" for e in disks.values()},
        boot_files=boot_roles, source=source)
    if refused:
        raise InvalidInput(f"{source} cannot be restored: " + "; ".join(f"{u.element}: {u.reason}" for u in refused),
                           hint="vmctl backup writes none of these: the backup was changed or made by another "
                           "tool; nothing was made")
    check_host(host, facts.needs, source=source)
    pool.refresh()
    check_space(needed=sum(still_plain(src, f).stat().st_size for f in [*disks, *sorted(boot_roles)]),
                available=pool.available(), where=f"pool {pool.name}", what=f"the disks of backup {src}",
                hint="free space in the pool")
    names = _volume_names(src, new, disks)
    with Operation(host, pool, "restore", new) as op:
        domains.ensure_absent(host, new)
        sources, volumes = {}, []
        for file, entry in sorted(disks.items()):
            volume = names[file]
            if pool.has_volume(volume):
                raise Conflict(f"volume {volume} exists already in pool {pool.name}", hint=f"see `vmctl repair {new}`")
            stage = f"uploading {file} as {volume}"
            report(Step(stage))
            op.will("volume", volume)
            created = pool.create_volume(volume_xml(volume, int(entry["virtual_size"]), str(entry["format"])))
            op.on_undo(pool.delete_volume, volume)
            plain = still_plain(src, file)
            pool.upload(volume, plain, on_bytes=transfer(report, stage, plain.stat().st_size))
            sources[str(entry["target"])] = created.path
            volumes.append(volume)
        checkpoint("restore:disks")
        boot_files = {}
        for role in sorted(boot_roles):  # direct kernel boot: the VM's own copies
            volume = restored_boot_volume(new, role)
            op.will("volume", volume)
            created = pool.create_volume(volume_xml(volume, still_plain(src, role).stat().st_size, "raw", mode=pool.readonly_mode))
            op.on_undo(pool.delete_volume, volume)
            pool.upload(volume, still_plain(src, role))
            boot_files[role] = created.path
            volumes.append(volume)
        checkpoint("restore:uploaded")
        old = parse_domain(xml.decode())
        port = None
        if old.meta.ssh_port:
            port = pick_ssh_port(used_ssh_ports(host), is_free=port_is_free if host.is_local else None)
        macs = [random_mac() for _ in range(8)]
        new_uuid = str(uuidlib.uuid4())
        op.will("domain", new, new_uuid)
        domains.define(host, as_restored(xml.decode(), name=new, uuid=new_uuid, disk_sources=sources, ssh_port=port,
                                         macs=macs, volumes=tuple(volumes), boot_files=boot_files))
        op.on_undo(lambda: domains.lookup(host, new).undefine())
        checkpoint("restore:defined")
        op.commit()
    return new


def _volume_names(src: Path, new: str, disks: dict[str, dict]) -> dict[str, str]:
    """Backup file -> the restored VM's volume. The seed CD-ROM becomes NAME-cidata.iso,
    or NAME-seed.iso while it still holds a private host key (then it is retired once
    vmctl first verifies the guest's key, as for a created VM)."""
    names, seed_taken = {}, False
    for file, entry in sorted(disks.items()):
        if entry["device"] != "cdrom":
            names[file] = disk_volume(new, str(entry["target"]))
        elif not seed_taken:
            seed_taken = True
            secret = holds_private_key(still_plain(src, file))
            names[file] = seed_volume(new) if secret else clean_seed_volume(new)
        else:
            names[file] = cdrom_volume(new, str(entry["target"]))
    return names
