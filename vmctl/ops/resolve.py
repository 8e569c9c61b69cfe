"""Resolving a create request into a full DomainSpec: template, accelerator, user,
disks, NIC. Pure: every fact it needs (image, template, accelerator decision,
port, keys) is gathered before and passed in."""

from __future__ import annotations

import secrets

from vmctl.ops.templates import Template
from vmctl.policy.accel import AccelDecision
from vmctl.policy.ports import PORT_RANGE
from vmctl.spec.domain import DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.spec.image import Image
from vmctl.spec.names import check_name
from vmctl.spec.request import CreateRequest
from vmctl.ssh.keys import strip_comment


def default_template_name(image: Image) -> str:
    return "linux-direct" if image.boot == "direct" else "linux"


def disk_volume_name(vm: str) -> str:
    return f"{vm}-vda.qcow2"


def seed_volume_name(vm: str) -> str:
    return f"{vm}-seed.iso"


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def resolve_spec(req: CreateRequest, image: Image, template: Template, decision: AccelDecision,
                 cpu_flag: str | None, pool_path: str, *, mac: str, vm_uuid: str | None = None,
                 ssh_port: int = PORT_RANGE.start, seed_path: str | None = None, host_key: str = "",
                 key_path: str = "") -> DomainSpec:
    """The DomainSpec for ``req``: disks in ``pool_path``, a user-mode NIC forwarding
    ``ssh_port`` (or the libvirt network asked for), vmctl's metadata."""
    user = check_name(req.user, "user") if req.user else (image.default_user or "root")
    disks = [DiskSpec(f"{pool_path}/{disk_volume_name(req.name)}")]
    if seed_path:
        disks.append(DiskSpec(seed_path, target="hdc", format="raw", device="cdrom", bus="ide"))
    if req.network:  # a libvirt network: SSH at the guest's DHCP-lease address, no forward port
        nic, meta_port = NicSpec(kind="network", network=req.network, mac=mac), None
    else:
        nic, meta_port = NicSpec(kind="user", mac=mac, ssh_port=ssh_port), ssh_port
    return DomainSpec(
        name=req.name, vcpus=req.cpus, memory_mib=req.memory_mib, accel=decision.accel,
        nested_feature=cpu_flag if req.nested else None,
        disks=tuple(disks), nics=(nic,),
        boot=DirectBoot(image.kernel, image.initrd, image.cmdline) if image.boot == "direct" else None,
        meta=VmMeta(image=image.name, template=template.name, accel_reason=decision.reason,
                    ssh_user=user, ssh_port=meta_port, ssh_host_key=strip_comment(host_key) if host_key else "",
                    ssh_key_path=key_path,
                    volumes=(disk_volume_name(req.name), seed_volume_name(req.name)) if seed_path else
                    (disk_volume_name(req.name),)),
        uuid=vm_uuid,
    )
