"""vmctl's Python API for scripts: one object per libvirt connection.

    from vmctl.api import Vmctl
    with Vmctl() as v:                      # LIBVIRT_DEFAULT_URI or qemu:///system
        vm = v.create("web1", memory="1G", wait_boot=True)
        print(vm.state, vm.ssh_port)
        v.delete("web1")

Every method raises :class:`vmctl.errors.VmctlError` subclasses on failure. The API
never prints: warnings go to the ``vmctl`` logger, output of guest commands to the
callbacks the caller passes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.api.admin import AdminApi
from vmctl.api.disks import DiskApi
from vmctl.api.guests import GuestApi
from vmctl.api.lazy import unlocked_cached_property as _unlocked_cached_property
from vmctl.api.runs import RunApi
from vmctl.api.snapshots import SnapshotApi
from vmctl.api.stacks import StackApi, load_stack
from vmctl.errors import InvalidInput
from vmctl.ops.pool import DEFAULT_POOL, PoolRef
from vmctl.ops.vms import VmInfo, Vms
from vmctl.progress import Report, Step, reporter, timed_stages
from vmctl.spec.units import MiB, format_size, parse_size
from vmctl.virt.host import Host

if TYPE_CHECKING:
    from vmctl.spec.domain import Accel
    from vmctl.virt.domains import ConsoleStream
    from vmctl.spec.request import CreateRequest
    from vmctl.ops.fanout import FanOutSummary
    from vmctl.ops.host import HostInfo
    from vmctl.ops.images import ImageStore
    from vmctl.ops.safety.repair import RepairReport
    from vmctl.ops.templates import PreparedTemplate, Template
    from vmctl.spec.image import Image
    from vmctl.spec.migration import MigrationEvent, MigrationResult

from vmctl.signals import handle_termination_signals

from vmctl.spec.uris import display_uri

__all__ = ["Vmctl", "VmInfo", "display_uri", "format_size", "format_summary", "handle_termination_signals",
           "load_stack", "parse_labels"]



def format_summary(summary: "FanOutSummary") -> list[str]:
    """A fan-out's per-VM table, for people."""
    from vmctl.ops.fanout import format_summary as table

    return table(summary)


def parse_labels(texts: "Sequence[str]") -> dict[str, str]:
    """``["KEY=VALUE", ...]`` (as given on a command line) as checked labels."""
    from vmctl.spec.names import check_labels, parse_label

    return dict(check_labels(tuple(parse_label(text) for text in texts)))


def _accel(value: "str | Accel | None") -> "Accel | None":
    from vmctl.spec.domain import Accel

    if value is None or isinstance(value, Accel):
        return value
    try:
        return Accel(value)
    except ValueError:
        raise InvalidInput(f"invalid accelerator {value!r}", hint="use kvm or tcg") from None


def _memory_mib(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value, default_unit="MiB", what="memory") // MiB


def _disk_bytes(value: str | int | None) -> int | None:
    if value is None or isinstance(value, int):
        return value
    return parse_size(value, default_unit="GiB", what="disk size")


class Vmctl(GuestApi, SnapshotApi, RunApi, DiskApi, AdminApi, StackApi):
    """Operations on one libvirt host and vmctl's storage pool there.

    ``labels`` are put on every VM this object's :meth:`create` makes (a
    ``create(labels=...)`` adds to them and wins for the same key): a tool that marks
    everything it makes (a CI job, a test harness) says so once. (A restored VM keeps the
    labels of its backup.)"""

    def __init__(self, uri: str | None = None, *, pool: str | None = None, pool_path: str | None = None,
                 labels: Mapping[str, str] | None = None) -> None:
        from vmctl.spec.names import check_labels

        self._uri = uri
        self.pool_name = pool or os.environ.get("VMCTL_POOL") or DEFAULT_POOL
        self.pool_path = pool_path or os.environ.get("VMCTL_POOL_PATH") or None
        self.labels: dict[str, str] = dict(check_labels(labels))

    def __enter__(self) -> "Vmctl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the libvirt connection; cached pool and use-case objects go with it
        (they hold references that would keep e.g. a qemu+ssh tunnel alive)."""
        for cached in ("vms", "pools"):
            self.__dict__.pop(cached, None)
        host = self.__dict__.pop("host", None)
        if host is not None:
            host.close()

    def _sibling(self) -> "Vmctl":
        """A new Vmctl on the same host (own connection), for worker threads."""
        return Vmctl(self._uri, pool=self.pool_name, pool_path=self.pool_path, labels=self.labels)

    @_unlocked_cached_property
    def host(self) -> Host:
        return Host(self._uri)

    @_unlocked_cached_property
    def pools(self) -> PoolRef:
        return PoolRef(self.host, self.pool_name, self.pool_path)

    @property
    def pool(self):  # -> vmctl.virt.storage.Pool
        """vmctl's pool on this host, created on first use."""
        return self.pools.ensure()

    @_unlocked_cached_property
    def vms(self) -> Vms:
        return Vms(self.host, self.pools)

    # --- host and templates --------------------------------------------------
    def host_info(self) -> "HostInfo":
        """This host's facts: URI, hostname, versions, CPUs, memory, the accelerator and why."""
        from vmctl.ops.host import host_info

        return host_info(self.host, self.pools.find(), self.pool_name)

    def templates(self) -> list["Template"]:
        """The templates: built-in and the user's."""
        from vmctl.ops.templates import list_templates

        return list_templates()

    def import_template(self, path: str | Path, name: str, *, drop_unusable: bool = False,
                        replace: bool = False) -> "PreparedTemplate":
        """Store a cleaned copy (virt-clone semantics) of a domain XML file as the user
        template ``name``; parts a new VM cannot use, and parts tied to a host that this
        host cannot honour, are refused unless ``drop_unusable`` leaves them out or fits them."""
        from vmctl.ops.preflight import host_view
        from vmctl.ops.templates import import_template

        return import_template(Path(path), name, drop=drop_unusable, replace=replace,
                               host=lambda: host_view(self.host))  # libvirt only for templates tied to a host

    def render(self, name: str = "example", **options: object) -> str:
        """The domain XML ``create(name, **options)`` would define; no side effects
        (a placeholder image is shown where the image is not imported yet)."""
        from vmctl.ops.create import preview_xml

        return preview_xml(self.host, self.pools, self._request(name, **options))  # type: ignore[arg-type]

    # --- images ----------------------------------------------------------------
    @property
    def images(self) -> "ImageStore":
        """The base images in vmctl's pool (import, list, remove)."""
        from vmctl.ops.images import ImageStore

        return ImageStore(self.host, self.pool)

    def list_images(self) -> list["Image"]:
        """The base images in the pool."""
        from vmctl.ops.images import ImageStore

        pool = self.pools.find()
        return ImageStore(self.host, pool).list() if pool is not None else []

    def import_image(self, path: str | Path, *, name: str | None = None, fmt: str | None = None,
                     default_user: str = "", progress: Report | None = None) -> "Image":
        """Import a disk image file into the pool as a base image (inspected first);
        ``progress`` hears the stages and bytes copied (:class:`vmctl.progress.Step`)."""
        from vmctl.ops.safety.repair import sweep

        images = self.images
        sweep(self.host, images.pool)
        return images.import_file(Path(path), name=name, fmt=fmt, default_user=default_user, progress=progress)

    def remove_image(self, name: str) -> "Image":
        """Remove a base image no VM uses."""
        from vmctl.ops.safety.repair import sweep
        from vmctl.virt import domains

        images = self.images
        sweep(self.host, images.pool)
        return images.remove(name, domains.list_all(self.host))

    def build_tiny(self, *, cache_root: Path | None = None,
                   progress: Report | None = None) -> tuple["Image", bool]:
        """Build (cached) and import the embedded guest image ``tiny``; ``progress`` hears each step."""
        from vmctl.ops.tiny import ensure_tiny
        from vmctl.virt import domains

        if cache_root is None:
            from platformdirs import user_cache_path

            cache_root = user_cache_path("vmctl") / "tiny"
        return ensure_tiny(self.images, domains.list_all(self.host), cache_root=cache_root, progress=progress)

    def build_tinydisk(self, *, cache_root: Path | None = None,
                       progress: Report | None = None) -> tuple["Image", bool]:
        """Build (cached) and import ``tinydisk``, the embedded guest as a disk-boot image
        (BIOS and UEFI); ``tiny`` is built first if needed. ``cache_root`` holds both builds."""
        from vmctl.ops.tinydisk import ensure_tinydisk
        from vmctl.virt import domains

        if cache_root is None:
            from platformdirs import user_cache_path

            cache_root = user_cache_path("vmctl")
        return ensure_tinydisk(self.images, domains.list_all(self.host), cache_root=cache_root, progress=progress)

    # --- VMs -------------------------------------------------------------------
    def _request(self, name: str, *, image: str | None = None, template: str | None = None,
                 cpus: int | None = None, memory: str | int | None = None, disk: str | int | None = None,
                 accel: str | Accel | None = None, nested: bool = False, start: bool = True,
                 wait_boot: bool = False, timeout: float | None = None, user: str | None = None,
                 ssh_key: str | Path | None = None, user_data: str | Path | None = None,
                 network: str | None = None, internet: bool = False, drop_unusable: bool = False,
                 labels: Mapping[str, str] | None = None, attach: tuple[tuple[str, str], ...] = ()
                 ) -> "CreateRequest":
        """cpus and memory default to the template's (built-in templates: 1 vCPU, 512 MiB);
        ``labels`` add to this object's own (see the class)."""
        from vmctl.spec.names import check_labels
        from vmctl.spec.request import CreateRequest

        return CreateRequest(
            name=name, image=image, template=template, cpus=cpus, memory_mib=_memory_mib(memory),
            disk_bytes=_disk_bytes(disk), accel=_accel(accel), nested=nested, start=start,
            wait_boot=wait_boot, boot_timeout=timeout, user=user,
            ssh_key=Path(ssh_key) if ssh_key else None, user_data=Path(user_data) if user_data else None,
            network=network, internet=internet, drop_unusable=drop_unusable,
            labels=tuple({**self.labels, **dict(check_labels(labels))}.items()), attach=attach,
        )

    def create(self, name: str, *, image: str | None = None, template: str | None = None,
               cpus: int | None = None, memory: str | int | None = None, disk: str | int | None = None,
               accel: str | Accel | None = None, nested: bool = False, start: bool = True,
               wait_boot: bool = False, wait_ssh: bool = False, timeout: float | None = None,
               user: str | None = None, ssh_key: str | Path | None = None, user_data: str | Path | None = None,
               network: str | None = None, internet: bool = False, drop_unusable: bool = False,
               labels: Mapping[str, str] | None = None, insecure: bool = False,
               progress: Report | None = None, attach: tuple[tuple[str, str], ...] = ()) -> VmInfo:
        """Create a VM from ``image`` (default: the embedded 'tiny') with ``template``
        (default: by image); all or nothing.

        ``cpus``/``memory`` ('512M', '2G' or MiB) default to the template's, ``disk`` grows
        the disk ('8G'); ``accel`` 'kvm' or 'tcg' (default: detected); ``nested`` exposes
        vmx/svm (KVM). ``network`` attaches to a libvirt network instead of the user-mode NIC
        with its loopback SSH forward; ``internet`` gives that NIC a route out. ``user``,
        ``ssh_key`` and ``user_data`` (a cloud-config merged with vmctl's) shape the guest;
        ``labels`` add to this object's; ``attach``: (libvirt network, MAC) NICs after the first.
        ``wait_boot`` waits for the boot marker on the console; ``wait_ssh`` then also for an
        authenticated SSH session (``insecure``: the host key is not checked). If a wait fails,
        the VM is removed. ``progress`` hears each stage (:class:`vmctl.progress.Step`)."""
        options = dict(image=image, template=template, cpus=cpus, memory=memory, disk=disk, accel=accel,
                       nested=nested, start=start, wait_boot=wait_boot, timeout=timeout, user=user, ssh_key=ssh_key,
                       user_data=user_data, network=network, internet=internet, drop_unusable=drop_unusable,
                       labels=labels, attach=attach)
        from vmctl.ops.create import execute_create, plan_create

        from vmctl.local.testhooks import checkpoint
        from vmctl.ops.safety.repair import sweep
        from vmctl.signals import deferred_signals

        if not start and (wait_boot or wait_ssh):
            raise InvalidInput("a VM created with --no-start cannot be waited for",
                               hint="drop --wait, or drop --no-start")
        request = self._request(name, **options)  # type: ignore[arg-type]
        pool = self.pool
        sweep(self.host, pool)  # operations killed earlier are finished or undone first
        report = reporter(progress)
        plan = plan_create(self.host, pool, request)
        report(Step("checked: image, template, host resources"))
        vm = execute_create(self.host, pool, plan, progress=report)
        if wait_ssh:
            try:
                checkpoint("create:ssh-wait")
                ready = self.wait(name, until="ssh", insecure=insecure, timeout=timeout,
                                  on_stage=timed_stages(report))
            except BaseException:
                with deferred_signals():  # a second Ctrl-C must not cut the clean-up short
                    self.vms.delete(name)
                raise
            vm = replace(vm, ssh_ready_seconds=ready["stages"].get("authenticated"))  # type: ignore[union-attr]
        return vm

    def list(self, *, labels: Mapping[str, str] | None = None) -> list[VmInfo]:
        """Every VM on the host; with ``labels``, only those carrying all of them."""
        return self.vms.list(labels)

    def info(self, name: str) -> VmInfo:
        """One VM: state, resources, host, addresses, SSH endpoint, disks, labels."""
        return self.vms.info(name)

    def start(self, name: str, *, wait_boot: bool = False, timeout: float | None = None,
              progress: Report | None = None) -> VmInfo:
        """Start a VM; with ``wait_boot`` until its console says it finished booting.
        ``progress`` hears each stage."""
        return self.vms.start(name, wait_boot=wait_boot, timeout=timeout, progress=progress)

    def stop(self, name: str, *, force: bool = False, timeout: float = 60.0) -> VmInfo:
        """Shut a VM down (ACPI) within ``timeout`` seconds; ``force`` powers it off at once."""
        return self.vms.stop(name, force=force, timeout=timeout)

    def reboot(self, name: str) -> VmInfo:
        """Ask the guest to reboot (ACPI)."""
        return self.vms.reboot(name)

    def destroy(self, name: str) -> VmInfo:
        """Power the VM off at once (it stays defined)."""
        return self.vms.destroy(name)

    def delete(self, name: str, *, on_note: Callable[[str], None] | None = None) -> list[str]:
        """Remove VM ``name`` and the volumes it owns; returns their paths. Volumes a VM
        on another known host uses (shared storage) stay, and ``on_note`` says why."""
        return self.vms.delete(name, on_note=on_note)

    def repair(self, name: str | None = None, *, dry_run: bool = False, peer: str | None = None) -> "RepairReport":
        """Finish or undo operations whose owner died (all, or ``name``'s); remove builds of
        tiny no VM uses. With ``dry_run`` only report what would be done. A killed
        migration is settled with its other host reached at ``peer`` (else only at a URI
        given here or a known host's, never at one read from the record alone)."""
        from vmctl.ops.images import ImageStore
        from vmctl.ops.safety.repair import RepairReport, repair
        from vmctl.ops.settle import peers_given
        from vmctl.ops.tiny import remove_unused_builds, unused_builds
        from vmctl.virt import domains

        pool = self.pools.find()
        if pool is None:  # no pool: nothing vmctl made on this host yet
            return RepairReport([], [])
        if name is not None:
            from vmctl.spec.names import check_name

            check_name(name.removeprefix("image:"), "VM or image")
        pool.refresh()  # a pool another host shares: this host's listing may miss a record written there
        with peers_given(peer, [self.host.uri]):
            findings = repair(self.host, pool, name, dry_run=dry_run, force_unreadable=name is not None)
        store, records = ImageStore(self.host, pool), domains.list_all(self.host)
        builds = unused_builds(store, records) if dry_run or name else remove_unused_builds(store, records)
        return RepairReport(findings, builds)

    def migrate(self, name: str, dest_uri: str, *, copy_storage: bool = False, keep_source: bool = False,
                tls: bool = False, insecure_transport: bool = False, max_downtime_ms: int | None = None,
                bandwidth_mib: int | None = None, on_timeout: str = "abort", timeout: float | None = None,
                dry_run: bool = False,
                on_event: "Callable[[MigrationEvent], None] | None" = None) -> "MigrationResult":
        """Move VM ``name`` to the libvirt host at ``dest_uri``: live when it runs, offline
        when it is shut off. Pre-flight checks first (only those with ``dry_run``); checks,
        progress and warnings go to ``on_event``. On any failure the guest stays on exactly
        one host (see docs/migration.md)."""
        from vmctl.ops.migrate import migrate
        from vmctl.spec.migration import MigrationRequest

        request = MigrationRequest(name, dest_uri, copy_storage=copy_storage, keep_source=keep_source, tls=tls,
                                   insecure_transport=insecure_transport, max_downtime_ms=max_downtime_ms,
                                   bandwidth_mib=bandwidth_mib, on_timeout=on_timeout, timeout=timeout,
                                   dry_run=dry_run)
        pool = self.pools.find() if dry_run else self.pool
        if pool is None:
            from vmctl.errors import NotFound

            raise NotFound(f"no VM named {name!r} (vmctl has no pool on this host yet)", hint="see `vmctl list`")
        return migrate(self.host, pool, request, on_event)

    def console(self, name: str) -> "ConsoleStream":
        """An open console stream (``read_available``, ``send``, ``close``)."""
        return self.vms.console(name)
