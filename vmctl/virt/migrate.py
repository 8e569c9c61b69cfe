"""Migration through libvirt: a managed, client-driven migration (``virDomainMigrate3``
with a connection to each host; the migration stream goes QEMU to QEMU), its job
statistics, abort, downtime and post-copy controls, and the facts pre-flight reads.

The migrate call blocks for the whole migration, so :class:`LiveMigration` runs it
in a thread and the caller samples ``stats()`` meanwhile; ``abort()`` asks libvirt
to cancel (the source keeps running, the destination's copy is removed by libvirt).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import libvirt

from vmctl.errors import HostError, VmctlError
from vmctl.libvirtxml.capabilities import parse_capabilities
from vmctl.spec.migration import JobStats
from vmctl.virt.domains import Domain
from vmctl.virt.errors import libvirt_errors, translate_migration
from vmctl.virt.host import Host, capabilities_xml


@dataclass(frozen=True)
class MigrationFlags:
    live: bool = True
    copy_storage: bool = False   # NBD copy of the top image of each disk (the backing image must be there)
    unsafe_shared: bool = False  # shared storage that libvirt cannot recognise as such (a local directory)
    tls: bool = False
    postcopy: bool = False       # allow a later switch to post-copy
    keep_source: bool = False

    def value(self) -> int:
        flags = libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_ABORT_ON_ERROR
        if self.live:
            flags |= libvirt.VIR_MIGRATE_LIVE
        if not self.keep_source:
            flags |= libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
        if self.copy_storage:
            flags |= libvirt.VIR_MIGRATE_NON_SHARED_INC
        if self.unsafe_shared:
            flags |= libvirt.VIR_MIGRATE_UNSAFE
        if self.tls:
            flags |= libvirt.VIR_MIGRATE_TLS
        if self.postcopy:
            flags |= libvirt.VIR_MIGRATE_POSTCOPY
        return flags


def host_uuid(host: Host) -> str:
    return parse_capabilities(capabilities_xml(host)).host_uuid


def migratable_xml(dom: Domain, *, inactive: bool = False) -> str:
    """The domain's XML as a destination should get it (libvirt's MIGRATABLE form)."""
    flags = libvirt.VIR_DOMAIN_XML_MIGRATABLE | libvirt.VIR_DOMAIN_XML_SECURE
    if inactive:
        flags |= libvirt.VIR_DOMAIN_XML_INACTIVE
    with libvirt_errors(f"read the XML of {dom.name}"):
        return dom._dom.XMLDesc(flags)


def snapshot_count(dom: Domain) -> int:
    """How many snapshots libvirt keeps metadata for (libvirt refuses to migrate those)."""
    with libvirt_errors(f"count the snapshots of {dom.name}"):
        return int(dom._dom.snapshotNum(0))


def compare_cpu(host: Host, cpu_xml: str, *, arch: str, machine: str, domain_type: str) -> tuple[bool, str]:
    """Can ``host`` run a guest with this ``<cpu>`` (as its hypervisor provides CPUs)?"""
    try:
        result = host.conn.compareHypervisorCPU(None, arch or None, machine or None, domain_type or None, cpu_xml,
                                                libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_CPU_INCOMPATIBLE:
            return False, (exc.get_error_message() or "incompatible").strip()
        with libvirt_errors("compare CPUs"):
            raise
    names = {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset"}
    return result != libvirt.VIR_CPU_COMPARE_INCOMPATIBLE, names.get(result, "incompatible")


def compare_host_cpus(src: Host, dest: Host) -> tuple[str, str]:
    """How ``dest``'s CPU compares with ``src``'s, for a guest that sees the host's CPU as
    it is (host-passthrough): ('identical' | 'superset' | 'incompatible' | 'unknown', detail)."""
    from vmctl.libvirtxml.migration import host_cpu_xml

    cpu = host_cpu_xml(capabilities_xml(src))
    if cpu is None:
        return "unknown", "the source's libvirt names no host CPU model"
    try:
        result = dest.conn.compareCPU(cpu, libvirt.VIR_CONNECT_COMPARE_CPU_FAIL_INCOMPATIBLE)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_CPU_INCOMPATIBLE:
            return "incompatible", (exc.get_error_message() or "incompatible").strip()
        with libvirt_errors("compare the hosts' CPUs"):
            raise
    names = {libvirt.VIR_CPU_COMPARE_IDENTICAL: "identical", libvirt.VIR_CPU_COMPARE_SUPERSET: "superset"}
    return names.get(result, "incompatible"), "the destination's CPU is " + names.get(result, "incompatible")


def job_stats(dom: Domain) -> JobStats | None:
    """The running job's statistics; None when libvirt cannot say right now (busy)."""
    try:
        return JobStats.from_libvirt(dom._dom.jobStats(0))
    except libvirt.libvirtError:
        return None


def completed_stats(dom: Domain) -> JobStats | None:
    """The statistics of the finished migration (on the destination, which libvirt tells)."""
    try:
        return JobStats.from_libvirt(dom._dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED), completed=True)
    except libvirt.libvirtError:
        return None


def wait_for_no_job(dom: Domain, timeout: float, *, abort_after: float) -> bool:
    """Wait (bounded) until ``dom`` runs no job, e.g. a migration whose client died and
    that libvirt is still winding down; after ``abort_after`` seconds ask libvirt to
    abort it. True when no job runs any more."""
    import time

    started = time.monotonic()
    aborted = False
    while time.monotonic() - started < timeout:
        try:
            kind = dom._dom.jobInfo()[0]
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return True
            kind = libvirt.VIR_DOMAIN_JOB_UNBOUNDED  # busy answering: a job holds the domain
        if kind in (libvirt.VIR_DOMAIN_JOB_NONE, libvirt.VIR_DOMAIN_JOB_COMPLETED, libvirt.VIR_DOMAIN_JOB_FAILED,
                    libvirt.VIR_DOMAIN_JOB_CANCELLED):
            return True
        if not aborted and time.monotonic() - started >= abort_after:
            aborted = True
            try:
                dom._dom.abortJob()
            except libvirt.libvirtError:
                pass
        time.sleep(0.2)
    return False


class LiveMigration:
    """One ``migrate3`` call, running in a thread."""

    def __init__(self, dom: Domain, dest: Host, *, flags: MigrationFlags, dest_xml: str, persist_xml: str,
                 disks: list[str], bandwidth_mib: int | None) -> None:
        self.dom, self.dest = dom, dest
        self.params: dict[str, object] = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: dest_xml,
                                          libvirt.VIR_MIGRATE_PARAM_PERSIST_XML: persist_xml}
        if disks:
            self.params[libvirt.VIR_MIGRATE_PARAM_MIGRATE_DISKS] = disks
        if bandwidth_mib:
            self.params[libvirt.VIR_MIGRATE_PARAM_BANDWIDTH] = bandwidth_mib
        self.flags = flags
        self.error: VmctlError | None = None
        self.result: Domain | None = None
        self._thread = threading.Thread(target=self._run, name=f"vmctl-migrate-{dom.name}", daemon=True)

    def start(self) -> "LiveMigration":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            new = self.dom._dom.migrate3(self.dest.conn, self.params, self.flags.value())
            self.result = Domain(self.dest, new)
        except libvirt.libvirtError as exc:
            self.error = translate_migration(exc, f"migrate {self.dom.name}")
        except Exception as exc:  # noqa: BLE001 - reported to the waiting thread
            self.error = HostError(f"migrate {self.dom.name}: {exc}")

    def running(self) -> bool:
        return self._thread.is_alive()

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for the call to return; True if it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stats(self) -> JobStats | None:
        return job_stats(self.dom)

    def abort(self) -> None:
        """Ask libvirt to cancel; a job that has just ended is fine."""
        try:
            self.dom._dom.abortJob()
        except libvirt.libvirtError:
            pass

    def set_max_downtime(self, ms: int) -> None:
        try:
            self.dom._dom.migrateSetMaxDowntime(ms, 0)
        except libvirt.libvirtError:
            pass  # the job ended meanwhile, or has not begun: the next sample tells

    def start_postcopy(self) -> None:
        with libvirt_errors(f"switch the migration of {self.dom.name} to post-copy"):
            self.dom._dom.migrateStartPostCopy(0)
