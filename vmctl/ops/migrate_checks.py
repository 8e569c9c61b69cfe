"""Pre-flight of a migration: every check the destination and the VM must pass,
each reported as it runs, the first failure raised with a hint. Reads only.

The checks' facts become the :class:`MigrationPlan` that ``ops.migrate`` executes:
live or offline, shared or copied storage, the destination's XML (with another
SSH forward port where the VM's is taken there), the volumes to make there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vmctl.errors import Conflict, HostError, InsufficientResources, InvalidInput, MigrationFailed, NotFound, VmctlError
from vmctl.libvirtxml.edits import with_ssh_port
from vmctl.libvirtxml.facts import DomainFacts, parse_domain
from vmctl.libvirtxml.migration import cpu_facts, host_files
from vmctl.libvirtxml.storage import VolumeFacts
from vmctl.local.net import port_is_free
from vmctl.ops.delete import own_volumes, users_of
from vmctl.ops.carry import check_can_travel
from vmctl.ops.safety.intents import is_alive, read_record
from vmctl.ops.vms import used_ssh_ports
from vmctl.policy.resources import check_space
from vmctl.policy.migration import MonitorSettings, settings_for
from vmctl.policy.ports import pick_ssh_port
from vmctl.spec.migration import CheckResult, MigrationRequest
from vmctl.spec.uris import check_transport, display_uri, redact_uri, transport_of
from vmctl.spec.units import format_size
from vmctl.virt import domains
from vmctl.virt import migrate as vmig
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, find_pool, volume_by_path

Report = Callable[[CheckResult], None]


@dataclass(frozen=True)
class MigrationPlan:
    request: MigrationRequest
    uuid: str
    live: bool
    storage: str                  # "shared" or "copy"
    memory_mib: int
    source_uri: str               # redacted, for messages and records
    dest_uri: str
    dest_xml: str                 # live XML for the destination (migratable, port moved if needed)
    persist_xml: str              # the definition the destination keeps
    ssh_port: int | None
    own_volumes: list[VolumeFacts] = field(default_factory=list)   # the VM's volumes (copied when storage=copy)
    nbd_disks: list[str] = field(default_factory=list)             # live copy: targets QEMU copies
    nbd_volumes: set[str] = field(default_factory=set)             # ... and their volumes
    settings: MonitorSettings | None = None
    checks: list[CheckResult] = field(default_factory=list)
    source_host_uuid: str = ""    # libvirt host UUIDs: the record names both hosts by them
    dest_host_uuid: str = ""

    @property
    def copy(self) -> bool:
        return self.storage == "copy"


class Checks:
    """Runs named checks in order; reports each; the first failure stops."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.results: list[CheckResult] = []

    def ok(self, name: str, detail: str) -> None:
        self._add(CheckResult(name, True, detail))

    def fail(self, name: str, error: VmctlError) -> None:
        self._add(CheckResult(name, False, error.message))
        raise error

    def _add(self, result: CheckResult) -> None:
        self.results.append(result)
        self.report(result)


def preflight(src: Host, src_pool: Pool, req: MigrationRequest, report: Report,
              connect: Callable[[str], Host] = Host) -> tuple[MigrationPlan, Host]:
    """Run the checks; returns the plan and the open connection to the destination."""
    checks = Checks(report)
    source_uri, dest_uri = redact_uri(src.uri), redact_uri(req.dest_uri)  # records keep these
    # 0. both connections are authenticated transports, 1. the destination answers and is another host
    try:
        for uri in (src.uri, req.dest_uri):
            check_transport(uri, insecure=req.insecure_transport)
    except InvalidInput as exc:
        checks.fail("transport", exc)
    checks.ok("transport", f"{transport_of(src.uri)} to the source, {transport_of(req.dest_uri)} to the destination"
              + (", TLS for the migration stream" if req.tls else ", migration stream unencrypted (--tls encrypts it)"))
    try:
        dest = connect(req.dest_uri)
    except VmctlError as exc:
        checks.fail("destination", exc)
    try:
        return _preflight(checks, src, src_pool, dest, req, source_uri, dest_uri), dest
    except BaseException:
        dest.close()
        raise


def _preflight(checks: Checks, src: Host, src_pool: Pool, dest: Host, req: MigrationRequest, source_uri: str,
               dest_uri: str) -> MigrationPlan:
    src_uuid, dest_uuid = vmig.host_uuid(src), vmig.host_uuid(dest)
    facts = dest.facts()
    for side, uri, uuid in (("source", source_uri, src_uuid), ("destination", dest_uri, dest_uuid)):
        if not uuid:  # the record names both hosts by it: without, a killed migration could not be settled
            checks.fail("destination", HostError(f"libvirt at {display_uri(uri)} (the {side}) reports no host UUID",
                                                 hint="set host_uuid in its libvirtd.conf; nothing was changed"))
    if src_uuid == dest_uuid:
        checks.fail("destination", InvalidInput(f"{display_uri(dest_uri)} is the source host itself (host UUID {dest_uuid})",
                                                hint="migrate to another libvirt host"))
    checks.ok("destination", f"{facts.hostname} answers (libvirt {facts.libvirt_version}, host UUID {dest_uuid})")
    # 2. the VM, and whether it runs
    dom = domains.lookup(src, req.name)
    state = dom.state()
    info = parse_domain(dom.xml(inactive=True))
    if not info.managed:
        checks.fail("vm", InvalidInput(f"{req.name} was not created by vmctl (no vmctl metadata)",
                                       hint="migrate it with `virsh migrate`"))
    if state not in ("running", "shut-off"):
        checks.fail("vm", Conflict(f"{req.name} is {state}: only a running (live) or shut-off (offline) VM is migrated",
                                   hint=f"resume it (`virsh resume {req.name}`) or shut it down first; "
                                        "nothing was changed"))
    live = state == "running"
    checks.ok("vm", f"{state}: {'live' if live else 'offline'} migration, {info.memory_mib} MiB, {info.vcpus} vCPU(s)")
    # 3. the name is free there
    clash = [r for r in domains.list_all(dest) if r.name == req.name or r.uuid == dom.uuid]
    if clash:
        checks.fail("name", Conflict(f"the destination already has a domain {clash[0].name!r} (UUID {clash[0].uuid})",
                                     hint="delete or rename it there, or keep the VM here; nothing was changed"))
    checks.ok("name", f"{req.name} is free on the destination")
    # 4. CPU, 5. memory
    _check_cpu(checks, dom, src, dest)
    if live and facts.free_memory_mib < info.memory_mib:
        checks.fail("memory", InsufficientResources(
            f"the destination has {facts.free_memory_mib} MiB free, the guest needs {info.memory_mib} MiB",
            hint="free memory there or pick another host"))
    checks.ok("memory", f"{facts.free_memory_mib} MiB free on the destination, the guest needs {info.memory_mib} MiB")
    # 6. storage
    dest_pool = find_pool(dest, src_pool.name)
    storage, volumes = _check_storage(checks, req, dom, info, src, src_pool, dest, dest_pool, live)
    # 7. snapshots (they travel: ops/carry.py), 8. locks
    try:
        count = check_can_travel(dom, copy=storage == "copy")
        checks.ok("snapshots", f"{count} snapshot(s), carried along" if count else "no snapshots")
    except Conflict as exc:
        checks.fail("snapshots", exc)
    for side, pool in (("source", src_pool), ("destination", dest_pool)):
        record = read_record(pool, req.name) if pool is not None else None
        if record is not None and is_alive(record):
            checks.fail("lock", Conflict(f"{req.name} is busy on the {side}: {record.op} by "
                                         f"{record.owner.describe()}", hint="wait for it to finish"))
    checks.ok("lock", f"no other operation holds {req.name}")
    # 9. the SSH forward port there
    port = _choose_port(checks, info, dest)
    dest_xml = vmig.migratable_xml(dom, inactive=not live)
    persist_xml = vmig.migratable_xml(dom, inactive=True)
    if port is not None and port != info.meta.ssh_port:
        dest_xml, persist_xml = with_ssh_port(dest_xml, port), with_ssh_port(persist_xml, port)
    copied = sum(v.allocation for v in volumes) if storage == "copy" else 0
    settings = settings_for(info.memory_mib, copied, max_downtime_ms=req.max_downtime_ms,
                            on_timeout=req.on_timeout, timeout=req.timeout)
    nbd = [d for d in info.disks if d.device == "disk" and Path(d.path).name in {v.name for v in volumes}]
    if storage != "copy" or not live:
        nbd = []
    return MigrationPlan(req, dom.uuid, live, storage, info.memory_mib, source_uri, dest_uri, dest_xml, persist_xml,
                         port, volumes, [d.target for d in nbd], {Path(d.path).name for d in nbd}, settings,
                         checks.results, src_uuid, dest_uuid)


def _check_cpu(checks: Checks, dom: Domain, src: Host, dest: Host) -> None:
    cpu = cpu_facts(dom.xml(inactive=True))
    if cpu.mode == "host-passthrough":  # the guest sees the source host's CPU itself: no model to compare
        verdict, detail = vmig.compare_host_cpus(src, dest)
        if verdict in ("incompatible", "unknown"):
            checks.fail("cpu", MigrationFailed(
                f"the guest sees its host's CPU as it is (host-passthrough) and {detail}",
                hint="migrate it between hosts with the same CPU (libvirt supports host-passthrough migration "
                "between identical hosts only), or give it a named CPU model; nothing was changed"))
        note = "" if verdict == "identical" else " (it gains features: libvirt supports this between identical hosts)"
        checks.ok("cpu", f"host-passthrough CPU: {detail}{note} ({cpu.domain_type})")
        return
    if cpu.xml is None:
        checks.ok("cpu", f"the hypervisor's default CPU ({cpu.domain_type})")
        return
    ok, detail = vmig.compare_cpu(dest, cpu.xml, arch=cpu.arch, machine=cpu.machine, domain_type=cpu.domain_type)
    if not ok:
        checks.fail("cpu", MigrationFailed(f"the destination cannot provide the guest's CPU: {detail}",
                                           hint="pick a host with a compatible CPU; nothing was changed"))
    checks.ok("cpu", f"{cpu.mode or 'custom'} CPU: {detail} on the destination ({cpu.domain_type})")


def _same_file(src: Host, dest: Host, path: str) -> bool | None:
    """Is ``path`` the same file for both hosts? None: the destination has no such file."""
    mine, theirs = volume_by_path(src, path), volume_by_path(dest, path)
    if theirs is None:
        return None
    return mine is not None and bool(mine.ctime) and mine.ctime == theirs.ctime


def _check_storage(checks: Checks, req: MigrationRequest, dom: Domain, info: DomainFacts, src: Host,
                   src_pool: Pool, dest: Host, dest_pool: Pool | None,
                   live: bool) -> tuple[str, list[VolumeFacts]]:
    src_pool.refresh()
    own = [src_pool.volume(v) for v in own_volumes(info, src_pool, req.name) if src_pool.has_volume(v)]
    own_paths = {v.path for v in own}
    files = host_files(dom.xml(inactive=True))
    if dest_pool is not None:
        dest_pool.refresh()
    # Immutable files (images: 0444) tell best whether a directory is shared: same path, same ctime.
    fixed = [f for f in files if f not in own_paths] + [v.backing_path for v in own if v.backing_path]
    probes = fixed or [v.path for v in own]
    shared = dest_pool is not None and all(_same_file(src, dest, p) for p in dict.fromkeys(probes))
    _check_no_other_users(checks, req.name, own, src, src_pool, dest, dest_pool if shared else None)
    if shared and all(volume_by_path(dest, p) is not None for p in files):
        checks.ok("storage", f"shared: the destination sees the same {len(files)} file(s) (pool {src_pool.name})")
        return "shared", own
    if not req.copy_storage:
        checks.fail("storage", MigrationFailed(
            f"the destination cannot see {req.name}'s disks ({', '.join(sorted(own_paths)) or 'none'})",
            hint="add --copy-storage to copy them, or keep the VM on shared storage; nothing was changed"))
    if dest_pool is None or dest_pool.path != src_pool.path:
        where = f"at {dest_pool.path}" if dest_pool else "missing"
        checks.fail("storage", MigrationFailed(
            f"--copy-storage needs pool {src_pool.name} at {src_pool.path} on the destination too (it is {where})",
            hint=f"make vmctl's pool there at {src_pool.path} (VMCTL_POOL_PATH={src_pool.path} "
                 "vmctl -c DEST image build tiny creates it with the image)"))
    missing = [p for p in files if p not in own_paths and volume_by_path(dest, p) is None]
    missing += [v.backing_path for v in own if v.backing_path and volume_by_path(dest, v.backing_path) is None]
    if missing:
        checks.fail("storage", MigrationFailed(
            f"the destination lacks the image files {req.name} is built on: {', '.join(sorted(set(missing)))}",
            hint=f"import the image {info.meta.image or ''} there first (`vmctl -c DEST image build tiny` or "
                 "`image import`); nothing was changed"))
    taken = [v.name for v in own if dest_pool.has_volume(v.name)]
    if taken:
        checks.fail("storage", Conflict(f"the destination pool already has volume(s) {', '.join(taken)}",
                                        hint=f"see `vmctl -c DEST repair {req.name}`; nothing was changed"))
    needed = sum(v.allocation for v in own)
    try:
        check_space(needed=needed, available=dest_pool.available(), where=f"the destination's pool {dest_pool.name}",
                    what=f"a copy of {req.name}'s disks", hint="free space there")
    except InsufficientResources as exc:
        checks.fail("storage", exc)
    foreign = [d.path for d in info.disks if d.device == "disk" and d.path and d.path not in own_paths]
    if foreign:
        checks.fail("storage", MigrationFailed(f"{req.name} has disks vmctl did not make: {', '.join(foreign)}",
                                               hint="vmctl copies only the volumes it made for the VM"))
    how = "live block copy" if live else "volume copy"
    checks.ok("storage", f"copy: {len(own)} volume(s), {format_size(needed)} ({how}); images present there")
    return "copy", own


def _check_no_other_users(checks: Checks, name: str, own: list[VolumeFacts], src: Host, src_pool: Pool,
                          dest: Host, shared_pool: Pool | None) -> None:
    """The VM's own volumes must be its alone: a volume another domain uses (on the
    source, any known host, and the destination when they share the storage) would be
    moved away or removed under it. The VM itself is the source's domain of its name."""
    users = users_of(src, src_pool, [v.name for v in own], besides=name,
                     hosts=[dest] if shared_pool is not None else [])
    if users:
        listing = "; ".join(f"{v} is used by {', '.join(map(str, u))}" for v, u in sorted(users.items()))
        checks.fail("storage", Conflict(f"{name}'s volumes are not its alone: {listing}",
                                        hint="delete or flatten what uses them first; nothing was changed"))


def _choose_port(checks: Checks, info: DomainFacts, dest: Host) -> int | None:
    port = info.meta.ssh_port
    if not port:
        checks.ok("ssh port", "no loopback forward (the guest is reached on its network)")
        return None
    used = used_ssh_ports(dest)
    free = port_is_free if dest.is_local else None
    if port not in used and (free is None or free(port)):
        checks.ok("ssh port", f"{port} is free on the destination")
        return port
    new = pick_ssh_port(used | {port}, is_free=free)
    checks.ok("ssh port", f"{port} is taken on the destination: the guest's forward moves to {new}")
    return new


def lookup_uuid(host: Host, name: str, uuid: str) -> Domain | None:
    """The domain ``name`` on ``host`` if it has ``uuid`` (never a same-named other one)."""
    try:
        dom = domains.lookup(host, name)
    except NotFound:
        return None
    return dom if dom.uuid == uuid else None
