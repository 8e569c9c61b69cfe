"""Creating a VM, as a pipeline that only calls down:

    gather facts (image, template, accelerator, port, keys)   reads only
    -> resolve a DomainSpec                                    pure (ops.resolve)
    -> render and validate the domain XML                      libvirtxml
    -> make volumes and the NoCloud seed                       virt.storage
    -> define -> start -> wait for the boot marker             virt.domains

Nothing is made before the XML is rendered and validated; every step that makes
something registers its undo, and a failure (or Ctrl-C) unwinds them all.
"""

from __future__ import annotations

import tempfile
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vmctl.errors import Conflict, InvalidInput, OperationFailed
from vmctl.guest.boot import check_console_fingerprint
from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.net import port_is_free
from vmctl.local.hostspeed import measured_slowdown
from vmctl.local.testhooks import checkpoint
from vmctl.ops.host import choose_accel
from vmctl.ops.images import ImageStore
from vmctl.ops.safety.operation import Operation
from vmctl.ops.pool import PoolRef
from vmctl.ops.seed import retire_seed_secret
from vmctl.ops.resolve import default_template_name, disk_volume_name, random_mac, resolve_spec, seed_volume_name
from vmctl.ops.preflight import check_host, host_view, naming_element
from vmctl.ops.templates import Template, load_template, prepare_template
from vmctl.ops.vms import VmInfo, info_of, start_watched, used_ssh_ports
from vmctl.policy.ports import PORT_RANGE, pick_ssh_port
from vmctl.policy.resources import check_fits, check_space
from vmctl.policy.timeouts import boot_timeout
from vmctl.progress import Report, Step, reporter
from vmctl.spec.domain import DomainSpec
from vmctl.spec.image import TINY, Image, placeholder_image
from vmctl.spec.request import CreateRequest
from vmctl.spec.units import format_size
from vmctl.ssh.keys import KeyPair, ensure_user_key, fingerprint, generate_ed25519, public_line_of
from vmctl.virt import domains
from vmctl.virt.host import Host, memory_mib
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class CreatePlan:
    """Everything decided before anything is made."""

    request: CreateRequest
    image: Image
    template: Template
    spec: DomainSpec
    xml: str
    disk_bytes: int
    host_key: KeyPair
    user_data: dict[str, Any] = field(repr=False)  # holds the guest's private host key
    fitted: tuple[str, ...] = ()  # template parts --drop-unusable left out or fitted, as notes

    @property
    def disk_volume(self) -> str:
        return disk_volume_name(self.request.name)

    @property
    def seed_volume(self) -> str:
        return seed_volume_name(self.request.name)


def plan_create(host: Host, pool: Pool, req: CreateRequest) -> CreatePlan:
    """Gather facts, resolve the spec, render and validate the XML and the seed's
    cloud-config. Reads only."""
    domains.ensure_absent(host, req.name)
    image = ImageStore(host, pool).get(req.image or TINY)
    template = load_template(req.template or default_template_name(image))
    # virt-clone semantics; unusable parts and host ties this host cannot honour refused (or fitted)
    prepared = prepare_template(template, drop=req.drop_unusable, host=lambda: host_view(host))
    check_host(host, prepared.facts.needs, source=f"template {template.name!r}")
    disk_bytes = req.disk_bytes or image.virtual_size
    if disk_bytes < image.virtual_size:
        raise InvalidInput(f"--disk {format_size(disk_bytes)} is smaller than image {image.name} "
                           f"({format_size(image.virtual_size)})", hint="give a larger --disk or omit it")
    pool.refresh()
    check_space(needed=disk_bytes, available=pool.available(), where=f"pool {pool.name}",
                what=f"a {format_size(disk_bytes)} disk", hint="free space in the pool or use a smaller --disk")
    decision, virt = choose_accel(host, req.accel, nested=req.nested)
    port = pick_ssh_port(used_ssh_ports(host), is_free=port_is_free if host.is_local else None)
    key_path = req.ssh_key.expanduser().resolve() if req.ssh_key else ensure_user_key()
    host_key = generate_ed25519()
    spec = resolve_spec(req, image, template, prepared.facts, decision, virt.cpu_flag, pool.path, mac=random_mac(),
                        vm_uuid=str(uuidlib.uuid4()), ssh_port=port,
                        seed_path=f"{pool.path}/{seed_volume_name(req.name)}", host_key=host_key.public_line,
                        key_path=str(key_path) if req.ssh_key else "")
    check_resources(host, spec)
    xml = render_domain(prepared.xml, spec, source=f"template {template.name!r}")
    from vmctl.guest.cloudconfig import build_user_data, load_user_data  # PyYAML: only when creating

    user_data = build_user_data(
        hostname=req.name, user=spec.meta.ssh_user, default_user=image.default_user,
        authorized_key=public_line_of(key_path), host_key=host_key,
        extra=load_user_data(req.user_data) if req.user_data else None)
    return CreatePlan(req, image, template, spec, xml, disk_bytes, host_key, user_data,
                      tuple(f"{u.element} {u.done}: {u.reason}" for u in prepared.dropped))


def check_resources(host: Host, spec: DomainSpec) -> None:
    """Memory and vCPUs against what the host has, before anything is made (exit 6)."""
    available, total = memory_mib(host)
    check_fits(memory_mib=spec.memory_mib, vcpus=spec.vcpus, available_mib=available,
               total_mib=total or host.facts().memory_mib, host_cpus=host.facts().cpus, what=f"VM {spec.name}")


def execute_create(host: Host, pool: Pool, plan: CreatePlan, progress: Report | None = None) -> VmInfo:
    """Make volumes and seed, define, start and wait, under the name's lock and
    intent record; on any failure or signal nothing is left. ``progress`` hears each stage."""
    req = plan.request
    report = reporter(progress)
    with Operation(host, pool, "create", req.name) as op:
        make_volumes(op, host, pool, plan)
        report(Step("disk and seed made"))
        op.will("domain", req.name, plan.spec.uuid or "")
        source = f"template {plan.template.name!r}"
        try:
            dom = domains.define(host, plan.xml)
        except OperationFailed as exc:
            raise naming_element(exc, source=source, step="define") from None
        op.on_undo(dom.undefine)
        checkpoint("create:defined")
        report(Step("defined"))
        boot_seconds, tail = None, []
        if req.start:
            op.on_undo(dom.destroy)
            marker = plan.image.boot_marker if req.wait_boot else None
            try:
                boot_seconds, tail = start_watched(dom, marker, req.boot_timeout or boot_timeout(plan.spec.accel, _slowdown(host, plan.spec.accel)),
                                                   on_started=lambda: checkpoint("create:started"), progress=report)
            except OperationFailed as exc:
                raise naming_element(exc, source=source, step="start") from None
            check_console_fingerprint(tail, fingerprint(plan.host_key.public_line), req.name)
            if req.wait_boot:  # the guest has booted and taken its host key: drop the private half
                retire_seed_secret(host, pool, req.name, within=op)
        checkpoint("create:ready")
        op.commit()
    info = info_of(host, dom)
    return replace(info, boot_seconds=boot_seconds, console_tail=tail, fitted=list(plan.fitted))


def _slowdown(host: Host, accel) -> float | None:
    """This machine's measured slowdown (`vmctl host check`), for a VM that runs here."""
    return measured_slowdown(accel.value) if host.is_local else None


def make_volumes(op: Operation, host: Host, pool: Pool, plan: CreatePlan) -> None:
    """The VM's disk (a linked clone of the image) and its seed, each recorded
    before it is made and undone on failure."""
    _check_free(host, pool, plan)  # again, now that the name is locked
    checkpoint(f"{op.op}:locked")
    op.will("volume", plan.disk_volume)
    pool.create_volume(volume_xml(plan.disk_volume, plan.disk_bytes, "qcow2", backing_path=plan.image.path,
                                  backing_format=plan.image.format))
    op.on_undo(pool.delete_volume, plan.disk_volume)
    checkpoint(f"{op.op}:disk")
    op.will("volume", plan.seed_volume)
    _make_seed(op, pool, plan)
    checkpoint(f"{op.op}:seed")


def _check_free(host: Host, pool: Pool, plan: CreatePlan) -> None:
    domains.ensure_absent(host, plan.request.name)
    for volume in (plan.disk_volume, plan.seed_volume):
        if pool.has_volume(volume):
            raise Conflict(f"volume {volume} exists already in pool {pool.name}, and no VM named "
                           f"{plan.request.name!r} owns it", hint=f"see `vmctl repair {plan.request.name}`; "
                           "remove the volume with `virsh vol-delete` if it is nobody's")


def _make_seed(op: Operation, pool: Pool, plan: CreatePlan) -> None:
    make_seed(op, pool, plan.seed_volume, instance_id=plan.spec.uuid or plan.spec.name, hostname=plan.spec.name,
              user_data=plan.user_data)


def make_seed(op: Operation, pool: Pool, volume: str, *, instance_id: str, hostname: str,
              user_data: dict[str, Any]) -> str:
    """A NoCloud seed, built in a private temp dir and uploaded as a 0600 volume (it
    holds the guest's private host key); its path."""
    from vmctl.guest.seed import build_seed_iso

    with tempfile.TemporaryDirectory(prefix="vmctl-seed-") as tmp:
        iso = build_seed_iso(Path(tmp) / "seed.iso", instance_id=instance_id, hostname=hostname, user_data=user_data)
        created = pool.create_volume(volume_xml(volume, iso.stat().st_size, "raw"))
        op.on_undo(pool.delete_volume, volume)
        pool.upload(volume, iso)
    return created.path


def preview_xml(host: Host, pools: PoolRef, req: CreateRequest) -> str:
    """The domain XML a create of ``req`` would define, changing nothing (a placeholder
    image stands in where the image is not imported yet)."""
    pool = pools.find()
    pool_path = pools.effective_path
    image_name = req.image or TINY
    store = ImageStore(host, pool) if pool is not None else None
    template = load_template(req.template) if req.template else None
    if store is not None and store.exists(image_name):
        image = store.get(image_name)
    else:
        direct = image_name == TINY if template is None else template.direct_boot
        image = placeholder_image(image_name, pool_path, direct=direct)
    template = template or load_template(default_template_name(image))
    prepared = prepare_template(template, drop=req.drop_unusable, host=lambda: host_view(host))
    decision, virt = choose_accel(host, req.accel, nested=req.nested)
    spec = resolve_spec(req, image, template, prepared.facts, decision, virt.cpu_flag, pool_path, mac=random_mac(),
                        vm_uuid=str(uuidlib.uuid4()), ssh_port=PORT_RANGE.start,
                        seed_path=f"{pool_path}/{seed_volume_name(req.name)}")
    return render_domain(prepared.xml, spec, source=f"template {template.name!r}")
