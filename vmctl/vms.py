"""VM use cases: create, list, inspect and drive the lifecycle. They return
results and raise vmctl errors; they never print."""

from __future__ import annotations

import tempfile
import time
import uuid as uuidlib
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from vmctl.boot import boot_timeout, check_console_fingerprint, wait_for_console
from vmctl.errors import Conflict, InsufficientResources, InvalidInput, Timeout
from vmctl.images import ImageStore
from vmctl.keys import ensure_user_key, fingerprint, generate_ed25519, public_line_of
from vmctl.libvirtxml.domain import VMCTL_NS, parse_domain, vm_metadata_xml, with_ssh_port
from vmctl.libvirtxml.storage import volume_xml
from vmctl.ports import pick_ssh_port, port_is_free
from vmctl.render import render_request
from vmctl.spec import Accel, VmMeta, check_name
from vmctl.units import format_size
from vmctl.virt import domains
from vmctl.virt.domains import Domain, DomainRecord
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, volume_by_path

STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image: str | None = None
    template: str | None = None
    cpus: int = 1
    memory_mib: int = 512
    disk_bytes: int | None = None
    accel: Accel | None = None
    nested: bool = False
    start: bool = True
    wait_boot: bool = False
    boot_timeout: float | None = None
    user: str | None = None
    ssh_key: Path | None = None      # private key to log in with (default: vmctl's own)
    user_data: Path | None = None    # the user's cloud-config, merged with vmctl's keys
    network: str | None = None       # attach to this libvirt network instead of a user-mode NIC

    def __post_init__(self) -> None:
        check_name(self.name)
        for ref, what in ((self.image, "image"), (self.user, "user"), (self.network, "network")):
            if ref is not None:
                check_name(ref, what)


@dataclass(frozen=True)
class DiskInfo:
    target: str
    device: str
    path: str
    format: str
    size: int | None
    allocation: int | None
    base_image: str | None


@dataclass(frozen=True)
class VmInfo:
    name: str
    uuid: str
    state: str
    vcpus: int
    memory_mib: int
    accel: str
    accel_reason: str
    template: str
    image: str
    ssh_user: str
    ssh_port: int | None
    ssh_host_key: str
    ssh_host_key_fingerprint: str
    ssh_key_path: str
    disks: list[DiskInfo]
    managed: bool
    boot_seconds: float | None = None
    ssh_ready_seconds: float | None = None
    console_tail: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Vms:
    """VM use cases on one host and vmctl's pool there."""

    def __init__(self, host: Host, pool: Pool) -> None:
        self.host = host
        self.pool = pool
        self.images = ImageStore(pool)

    # --- reading -----------------------------------------------------------
    def list(self) -> list[VmInfo]:
        return [self._info(r) for r in domains.list_all(self.host)]

    def info(self, name: str) -> VmInfo:
        dom = domains.lookup(self.host, check_name(name))
        return self._info(DomainRecord(dom.name, dom.uuid, dom.state(), True, dom.xml()))

    def _used_ports(self) -> set[int]:
        """Forward ports of every VM on the host, running or not (they would clash at start)."""
        ports = (parse_domain(r.xml).meta.ssh_port for r in domains.list_all(self.host))
        return {p for p in ports if p}

    def _info(self, record: DomainRecord) -> VmInfo:
        facts = parse_domain(record.xml)
        disks = []
        for disk in facts.disks:
            vol = volume_by_path(self.host, disk.path) if disk.path else None
            base = None
            if vol and vol.backing_path:
                base = _image_of_volume(Path(vol.backing_path).name)
            disks.append(DiskInfo(disk.target, disk.device, disk.path, disk.format,
                                  vol.capacity if vol else None, vol.allocation if vol else None, base))
        return VmInfo(
            name=record.name, uuid=record.uuid, state=record.state, vcpus=facts.vcpus,
            memory_mib=facts.memory_mib, accel=facts.accel, accel_reason=facts.meta.accel_reason,
            template=facts.meta.template, image=facts.meta.image, ssh_user=facts.meta.ssh_user,
            ssh_port=facts.meta.ssh_port, ssh_host_key=facts.meta.ssh_host_key,
            ssh_host_key_fingerprint=fingerprint(facts.meta.ssh_host_key) if facts.meta.ssh_host_key else "",
            ssh_key_path=facts.meta.ssh_key_path, disks=disks, managed=facts.managed,
        )

    # --- creating ------------------------------------------------------------
    def create(self, req: CreateRequest) -> VmInfo:
        """Create (and start) a VM; on any failure nothing of it is left behind."""
        domains.ensure_absent(self.host, req.name)
        image = self.images.get(req.image or "tiny")
        disk_bytes = req.disk_bytes or image.virtual_size
        if disk_bytes < image.virtual_size:
            raise InvalidInput(f"--disk {format_size(disk_bytes)} is smaller than image {image.name} "
                               f"({format_size(image.virtual_size)})", hint="give a larger --disk or omit it")
        self.pool.refresh()
        if disk_bytes > self.pool.available():
            raise InsufficientResources(
                f"not enough space in pool {self.pool.name} for a {format_size(disk_bytes)} disk: "
                f"{format_size(self.pool.available())} free", hint="free space in the pool or use a smaller --disk")
        used_ports = self._used_ports()
        port = pick_ssh_port(used_ports, check_local=self.host.is_local)
        vm_uuid = str(uuidlib.uuid4())
        disk_vol, seed_vol = f"{req.name}-vda.qcow2", f"{req.name}-seed.iso"
        key_path = req.ssh_key.expanduser().resolve() if req.ssh_key else ensure_user_key()
        host_key = generate_ed25519()
        # Render (and so validate everything) before touching any storage.
        xml, spec = render_request(self.host, req, image, self.pool.path, vm_uuid=vm_uuid, ssh_port=port,
                                   seed_path=f"{self.pool.path}/{seed_vol}", host_key=host_key.public_line,
                                   key_path=str(key_path) if req.ssh_key else "")
        from vmctl.cloudconfig import build_user_data, load_user_data  # PyYAML: only when creating

        user_data = build_user_data(
            hostname=req.name, user=spec.meta.ssh_user, default_user=image.default_user,
            authorized_key=public_line_of(key_path), host_key=host_key,
            extra=load_user_data(req.user_data) if req.user_data else None)
        with ExitStack() as undo:
            self.pool.create_volume(volume_xml(disk_vol, disk_bytes, "qcow2", backing_path=image.path,
                                               backing_format=image.format))
            undo.callback(self.pool.delete_volume, disk_vol)
            self._make_seed(undo, seed_vol, vm_uuid, req.name, user_data)
            dom = domains.define(self.host, xml)
            undo.callback(dom.undefine)
            boot_seconds, tail = None, []
            if req.start:
                undo.callback(dom.destroy)
                boot_seconds, tail = self._start(dom, image.boot_marker if req.wait_boot else None,
                                                 req.boot_timeout or boot_timeout(spec.accel))
                check_console_fingerprint(tail, fingerprint(host_key.public_line), req.name)
            undo.pop_all()
        info = self.info(req.name)
        return VmInfo(**{**info.__dict__, "boot_seconds": boot_seconds, "console_tail": tail})

    def _make_seed(self, undo: ExitStack, vol: str, instance_id: str, hostname: str,
                   user_data: dict[str, object]) -> None:
        """The NoCloud seed, built in a private temp dir and uploaded as a 0600 volume
        (it holds the guest's private host key)."""
        from vmctl.seed import build_seed_iso

        with tempfile.TemporaryDirectory(prefix="vmctl-seed-") as tmp:
            iso = build_seed_iso(Path(tmp) / "seed.iso", instance_id=instance_id, hostname=hostname,
                                 user_data=user_data)
            self.pool.create_volume(volume_xml(vol, iso.stat().st_size, "raw"))
            undo.callback(self.pool.delete_volume, vol)
            self.pool.upload(vol, iso)

    # --- lifecycle -----------------------------------------------------------
    def start(self, name: str, *, wait_boot: bool = False, timeout: float | None = None) -> VmInfo:
        dom = domains.lookup(self.host, check_name(name))
        if dom.is_active():
            raise_state(name, "running", "start")
        facts = parse_domain(dom.xml())
        if facts.meta.ssh_port and self.host.is_local and not port_is_free(facts.meta.ssh_port):
            dom = self._move_ssh_port(dom, facts.meta.ssh_port)
        marker = self.images.get(facts.meta.image).boot_marker if wait_boot and facts.meta.image else None
        accel = Accel.KVM if facts.accel == "kvm" else Accel.TCG
        seconds, tail = self._start(dom, marker, timeout or boot_timeout(accel))
        return VmInfo(**{**self.info(name).__dict__, "boot_seconds": seconds, "console_tail": tail})

    def _move_ssh_port(self, dom: Domain, busy: int) -> Domain:
        """Something else took the VM's forward port while it was off: pick a free
        one and redefine (the endpoint is re-read from the metadata on every use)."""
        used = self._used_ports() | {busy}
        port = pick_ssh_port(used, check_local=True)
        return domains.define(self.host, with_ssh_port(dom.xml(inactive=True), port))

    def _start(self, dom: Domain, marker: str | None, timeout: float) -> tuple[float | None, list[str]]:
        if marker is None:
            dom.start()
            return None, []
        # Start paused and attach the console before the first instruction runs,
        # so not one line of boot output is lost.
        dom.start(paused=True)
        console = dom.open_console()
        try:
            started = time.monotonic()
            dom.resume()
            return wait_for_console(console, marker, timeout, started, dom.name)
        finally:
            console.close()

    def stop(self, name: str, *, force: bool = False, timeout: float = STOP_TIMEOUT) -> VmInfo:
        dom = domains.lookup(self.host, check_name(name))
        if not dom.is_active():
            raise_state(name, "shut off", "stop")
        if force:
            dom.destroy()
        else:
            dom.shutdown()
            try:
                dom.wait_for_state({"shut-off"}, timeout)
            except Timeout:
                raise Timeout(f"{name} did not shut down within {timeout:.0f} s",
                              hint="the guest ignored the ACPI power button; use `vmctl stop --force`") from None
        return self.info(name)

    def reboot(self, name: str) -> VmInfo:
        dom = domains.lookup(self.host, check_name(name))
        if not dom.is_active():
            raise_state(name, "shut off", "reboot")
        dom.reboot()
        return self.info(name)

    def destroy(self, name: str) -> VmInfo:
        dom = domains.lookup(self.host, check_name(name))
        dom.destroy()
        return self.info(name)

    def delete(self, name: str) -> list[str]:
        """Power off, undefine and remove the VM's own volumes; returns their paths."""
        dom = domains.lookup(self.host, check_name(name))
        facts = parse_domain(dom.xml(inactive=True))
        own = [d.path for d in facts.disks if _is_own_volume(d.path, self.pool.path, name)]
        dom.destroy()
        dom.undefine()
        for path in own:
            vol = Path(path).name
            if self.pool.has_volume(vol):
                self.pool.delete_volume(vol)
        return own

    def info_meta(self, name: str) -> VmMeta:
        return parse_domain(domains.lookup(self.host, check_name(name)).xml(inactive=True)).meta

    def update_meta(self, name: str, **changes: object) -> VmMeta:
        """Change vmctl's metadata of a VM (persistent config, and live if running)."""
        dom = domains.lookup(self.host, check_name(name))
        facts = parse_domain(dom.xml(inactive=True))
        meta = replace(facts.meta, **changes)  # type: ignore[arg-type]
        accel = Accel.KVM if facts.accel == "kvm" else Accel.TCG
        dom.set_metadata(vm_metadata_xml(meta, accel), VMCTL_NS, "vmctl")
        return meta

    def console(self, name: str):  # -> ConsoleStream
        dom = domains.lookup(self.host, check_name(name))
        if not dom.is_active():
            raise_state(name, "shut off", "attach to the console of")
        return dom.open_console()


def raise_state(name: str, state: str, action: str) -> None:
    raise Conflict(f"cannot {action} {name}: it is {state}", hint=f"see `vmctl info {name}`")


def _image_of_volume(volume: str) -> str | None:
    stem, dot, _ext = volume.rpartition(".")
    return stem[: -len(".base")] if dot and stem.endswith(".base") else None


def _is_own_volume(path: str, pool_path: str, name: str) -> bool:
    p = Path(path)
    return str(p.parent) == pool_path and p.name.startswith(f"{name}-") and ".base." not in p.name
