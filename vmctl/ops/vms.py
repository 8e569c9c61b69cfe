"""VM use cases: list, inspect and drive the lifecycle. They return results and
raise vmctl errors; they never print. Creating a VM is in :mod:`vmctl.ops.create`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from typing import TYPE_CHECKING

from vmctl.errors import Conflict, NotFound, Timeout
from vmctl.libvirtxml.facts import parse_domain
from vmctl.local.hostspeed import measured_slowdown
from vmctl.policy.resources import check_fits
from vmctl.policy.timeouts import STOP_TIMEOUT, accel_of_domain_type, boot_timeout
from vmctl.progress import Report, Step, reporter
from vmctl.spec.names import check_labels, check_name
from vmctl.spec.volumes import image_of_base_stem
from vmctl.spec.uris import display_uri
from vmctl.virt import domains
from vmctl.virt.domains import ConsoleStream, Domain, DomainRecord
from vmctl.virt.host import memory_mib_if_known
from vmctl.virt.storage import volume_by_path

if TYPE_CHECKING:
    from collections.abc import Mapping

    from vmctl.ops.delete import Deleted
    from vmctl.ops.pool import PoolRef
    from vmctl.spec.domain import VmMeta
    from vmctl.virt.host import Host

# Reading (list, info) is what scripts call most: what only the lifecycle needs is
# imported inside the methods that need it.


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
    labels: dict[str, str] = field(default_factory=dict)
    boot_seconds: float | None = None
    ssh_ready_seconds: float | None = None
    console_tail: list[str] = field(default_factory=list)
    fitted: list[str] = field(default_factory=list)  # template parts --drop-unusable left out or fitted (create)
    autostart: bool | None = None  # started with the host's libvirtd (read by info, not by list)
    host: str = ""  # the libvirt host it is defined on (its hostname)
    uri: str = ""  # that host's URI, as typed (no password)
    addresses: list[str] = field(default_factory=list)  # the guest's IPv4 addresses (DHCP lease, guest agent)
    ssh_endpoint: str = ""  # where its SSH answers, as seen from this machine ("" unknown)
    internet: bool = False  # its user-mode NIC has a route out (create --internet)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class Vms:
    """VM use cases on one host and vmctl's pool there."""

    def __init__(self, host: "Host", pools: "PoolRef") -> None:
        self.host = host
        self.pools = pools

    # --- reading -----------------------------------------------------------
    def list(self, labels: "Mapping[str, str] | None" = None) -> list[VmInfo]:
        """Every VM on the host; with ``labels``, only those carrying all of them."""
        records = domains.list_all(self.host)
        if labels:
            wanted = set(check_labels(labels))
            records = [r for r in records if wanted <= set(parse_domain(r.xml).meta.labels)]
        return [vm_info(self.host, r) for r in records]

    def info(self, name: str) -> VmInfo:
        try:
            dom = domains.lookup(self.host, check_name(name))
        except NotFound as exc:
            from vmctl.ops.safety.repair import half_made_hint

            hint = half_made_hint(self.pools.find(), name)
            if hint is None:
                raise
            raise NotFound(exc.message, hint=hint) from None
        return info_of(self.host, dom)

    def info_meta(self, name: str) -> "VmMeta":
        return parse_domain(domains.lookup(self.host, check_name(name)).xml(inactive=True)).meta

    # --- lifecycle -----------------------------------------------------------
    def _locked(self, op: str, name: str):
        """The VM's lock for a lifecycle operation (an intent record without items)."""
        from vmctl.ops.safety.operation import Operation

        return Operation(self.host, self.pools.ensure(), op, name)

    def start(self, name: str, *, wait_boot: bool = False, timeout: float | None = None,
              progress: Report | None = None) -> VmInfo:
        with self._locked("start", check_name(name)):  # looked up once the lock is held
            seconds, tail = self._start(domains.lookup(self.host, name), wait_boot, timeout, progress)
        return replace(self.info(name), boot_seconds=seconds, console_tail=tail)

    def _start(self, dom: Domain, wait_boot: bool, timeout: float | None,
               progress: Report | None) -> tuple[float | None, list[str]]:
        from vmctl.local.net import port_is_free
        from vmctl.ops.images import ImageStore

        if dom.is_active():
            raise_state(dom.name, "running", "start")
        facts = parse_domain(dom.xml())
        host = self.host.facts()
        available, total = memory_mib_if_known(self.host) or (host.memory_mib, 0)  # numbers, not a QEMU error
        check_fits(memory_mib=facts.memory_mib, vcpus=facts.vcpus, available_mib=available,
                   total_mib=total or host.memory_mib, host_cpus=host.cpus, what=dom.name)
        if facts.meta.ssh_port and self.host.is_local and not port_is_free(facts.meta.ssh_port):
            dom = self._move_ssh_port(dom, facts.meta.ssh_port)
        marker = None
        if wait_boot and facts.meta.image and (pool := self.pools.find()) is not None:
            marker = ImageStore(self.host, pool).get(facts.meta.image).boot_marker
        accel = accel_of_domain_type(facts.domain_type)
        slowdown = measured_slowdown(accel.value) if self.host.is_local else None
        return start_watched(dom, marker, timeout or boot_timeout(accel, slowdown), progress=progress)

    def _move_ssh_port(self, dom: Domain, busy: int) -> Domain:
        """Something else took the VM's forward port while it was off: pick a free
        one and redefine (the endpoint is re-read from the metadata on every use)."""
        from vmctl.libvirtxml.edits import with_ssh_port
        from vmctl.local.net import port_is_free
        from vmctl.policy.ports import pick_ssh_port

        port = pick_ssh_port(used_ssh_ports(self.host) | {busy}, is_free=port_is_free)
        return domains.define(self.host, with_ssh_port(dom.xml(inactive=True), port))

    def stop(self, name: str, *, force: bool = False, timeout: float = STOP_TIMEOUT) -> VmInfo:
        with self._locked("stop", check_name(name)):
            dom = domains.lookup(self.host, name)
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
        with self._locked("reboot", check_name(name)):
            self.reboot_unlocked(name)
        return self.info(name)

    def reboot_unlocked(self, name: str) -> None:
        """For an operation that already holds the VM's lock (provisioning)."""
        dom = domains.lookup(self.host, check_name(name))
        if not dom.is_active():
            raise_state(name, "shut off", "reboot")
        dom.reboot()

    def pause(self, name: str) -> VmInfo:
        """Stop the guest's vCPUs; its memory, devices and connections stay."""
        with self._locked("pause", check_name(name)):
            dom = domains.lookup(self.host, name)
            state = dom.state()
            if state != "running":
                raise_state(name, state, "pause")
            dom.suspend()
        return self.info(name)

    def resume(self, name: str) -> VmInfo:
        """Continue a paused guest (paused by `vmctl pause`, or left paused)."""
        with self._locked("resume", check_name(name)):
            dom = domains.lookup(self.host, name)
            state = dom.state()
            if state != "paused":
                raise_state(name, state, "resume")
            dom.resume()
        return self.info(name)

    def set_autostart(self, name: str, on: bool) -> VmInfo:
        """Start the VM whenever the host's libvirtd starts (or not)."""
        with self._locked("autostart", check_name(name)):
            dom = domains.lookup(self.host, name)
            if not dom.persistent:
                raise Conflict(f"{name} is transient (a `vmctl run` VM): it cannot start with the host",
                               hint="only defined VMs (vmctl create) can autostart")
            dom.set_autostart(on)
        return self.info(name)

    def destroy(self, name: str) -> VmInfo:
        with self._locked("destroy", check_name(name)):
            domains.lookup(self.host, name).destroy()
        return self.info(name)

    def delete(self, name: str, *, on_note: Callable[[str], None] | None = None) -> list[str]:
        """Power off, undefine and remove the VM's own volumes; returns their paths.
        Volumes that VMs on other hosts use stay (``on_note`` says which)."""
        from vmctl.ops.delete import delete_vm

        return delete_vm(self.host, self.pools.ensure(), check_name(name), on_note=on_note)

    def remove(self, name: str, *, keep_disks: bool = False,
               on_note: Callable[[str], None] | None = None) -> "Deleted":
        """:meth:`delete`, saying what was removed and (``keep_disks``: the VM's disks stay
        in the pool) kept."""
        from vmctl.ops.delete import remove_vm

        return remove_vm(self.host, self.pools.ensure(), check_name(name), keep_disks=keep_disks, on_note=on_note)

    def update_meta(self, name: str, **changes: object) -> "VmMeta":
        """Change vmctl's metadata of a VM (persistent config, and live if running)."""
        return update_meta(domains.lookup(self.host, check_name(name)), **changes)

    def console(self, name: str):  # -> ConsoleStream
        dom = domains.lookup(self.host, check_name(name))
        if not dom.is_active():
            raise_state(name, "shut off", "attach to the console of")
        return dom.open_console()


def update_meta(dom: Domain, **changes: object) -> "VmMeta":
    """Change vmctl's metadata fields of a domain (config, and live if running)."""
    from vmctl.libvirtxml.metadata import VMCTL_NS, VMCTL_PREFIX, metadata_xml

    facts = parse_domain(dom.xml(inactive=True))
    meta = replace(facts.meta, **changes)  # type: ignore[arg-type]
    dom.set_metadata(metadata_xml(meta, accel_of_domain_type(facts.domain_type)), VMCTL_NS, VMCTL_PREFIX)
    return meta


def info_of(host: "Host", dom: Domain) -> VmInfo:
    """A looked-up domain's info (its live XML and state, read now)."""
    info = vm_info(host, DomainRecord(dom.name, dom.uuid, dom.state(), True, dom.xml()), dom=dom)
    return replace(info, autostart=dom.autostart)


def vm_info(host: "Host", record: DomainRecord, *, dom: Domain | None = None) -> VmInfo:
    """``dom`` given (info): the guest agent is asked for addresses as well as DHCP leases."""
    facts = parse_domain(record.xml)
    disks = []
    for disk in facts.disks:
        vol = volume_by_path(host, disk.path) if disk.path else None
        base = _image_of_volume(Path(vol.backing_path).name) if vol and vol.backing_path else None
        disks.append(DiskInfo(disk.target, disk.device, disk.path, disk.format,
                              vol.capacity if vol else None, vol.allocation if vol else None, base))
    meta = facts.meta
    addresses = [] if meta.ssh_port else _guest_addresses(host, record, dom)
    return VmInfo(
        name=record.name, uuid=record.uuid, state=record.state, vcpus=facts.vcpus,
        memory_mib=facts.memory_mib, accel=facts.accel, accel_reason=meta.accel_reason,
        template=meta.template, image=meta.image, ssh_user=meta.ssh_user,
        ssh_port=meta.ssh_port, ssh_host_key=meta.ssh_host_key,
        ssh_host_key_fingerprint=_fingerprint(meta.ssh_host_key),
        ssh_key_path=meta.ssh_key_path, disks=disks, managed=facts.managed, labels=dict(meta.labels),
        host=host.hostname, uri=display_uri(host.uri), addresses=addresses,
        ssh_endpoint=ssh_endpoint(host, meta.ssh_port, addresses), internet=facts.internet,
    )


def _guest_addresses(host: "Host", record: DomainRecord, dom: Domain | None) -> list[str]:
    """A running guest's IPv4 addresses on libvirt networks: DHCP leases, and (for one VM,
    ``dom`` given) the guest agent. None for a user-mode NIC: its address is QEMU's."""
    if record.state != "running":
        return []
    try:
        target = dom or domains.lookup(host, record.name)
    except NotFound:
        return []  # gone since it was listed
    found = target.ipv4_addresses("lease")
    if not found and dom is not None:
        found = target.ipv4_addresses("agent")
    return found


def ssh_endpoint(host: "Host", forward_port: int | None, addresses: list[str]) -> str:
    """Where SSH answers: the loopback forward, else the first address (port 22), with the
    host named when it is not this machine (reached through an SSH jump via it)."""
    if forward_port:
        where = f"127.0.0.1:{forward_port}"
    elif addresses:
        where = f"{addresses[0]}:22"
    else:
        return ""
    return where if host.is_local else f"{where} on {host.hostname}"


def _fingerprint(public_line: str) -> str:
    if not public_line:
        return ""
    from vmctl.ssh.keys import fingerprint

    return fingerprint(public_line)


def used_ssh_ports(host: "Host") -> set[int]:
    """Forward ports of every VM on the host, running or not (they would clash at start)."""
    ports = (parse_domain(r.xml).meta.ssh_port for r in domains.list_all(host))
    return {p for p in ports if p}


def start_watched(dom: Domain, marker: str | None, timeout: float,
                  on_started: Callable[[], object] | None = None,
                  progress: Report | None = None) -> tuple[float | None, list[str]]:
    """Start the domain; with ``marker``, wait until it shows on the console and
    return (seconds, last console lines). ``progress`` hears "started" and "booted in"."""
    report = reporter(progress)

    def started() -> None:
        if on_started:
            on_started()
        report(Step("started" + (", waiting for the boot marker on the console" if marker else "")))
    if marker is None:
        dom.start()
        started()
        return None, []
    # Start paused and attach the console before the first instruction runs,
    # so not one line of boot output is lost.
    dom.start(paused=True)
    console = dom.open_console()
    try:
        seconds, tail = resume_watched(dom, console, marker, timeout, started)
    finally:
        console.close()
    report(Step(f"booted in {seconds:.1f} s"))
    return seconds, tail


def resume_watched(dom: Domain, console: ConsoleStream, marker: str, timeout: float,
                   on_started: Callable[[], object] | None = None,
                   record: Callable[[bytes], object] | None = None) -> tuple[float, list[str]]:
    """Resume a domain started paused whose console is attached, and wait for
    ``marker`` on it; ``record`` gets every console byte."""
    from vmctl.guest.boot import wait_for_console

    started = time.monotonic()
    dom.resume()
    if on_started:
        on_started()
    return wait_for_console(console, marker, timeout, started, dom.name, record=record)


def raise_state(name: str, state: str, action: str) -> None:
    raise Conflict(f"cannot {action} {name}: it is {state}", hint=f"see `vmctl info {name}`")


def _image_of_volume(volume: str) -> str | None:
    stem, dot, _ext = volume.rpartition(".")
    return image_of_base_stem(stem) if dot else None
