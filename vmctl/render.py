"""Turning a create request into domain XML: template, accelerator, user, disks, NIC."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from vmctl.hostinfo import choose_accel
from vmctl.images import Image
from vmctl.keys import strip_comment
from vmctl.libvirtxml.domain import render_domain
from vmctl.ports import PORT_RANGE
from vmctl.spec import DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta, check_name
from vmctl.templates import load_template
from vmctl.virt.host import Host

if TYPE_CHECKING:
    from vmctl.vms import CreateRequest


def render_request(host: Host, req: "CreateRequest", image: Image, pool_path: str, *,
                   vm_uuid: str | None = None, ssh_port: int = PORT_RANGE.start,
                   seed_path: str | None = None, host_key: str = "",
                   key_path: str = "") -> tuple[str, DomainSpec]:
    """Resolve template, accelerator and user for ``req`` and render its domain XML."""
    template = load_template(req.template or ("linux-direct" if image.boot == "direct" else "linux"))
    decision, virt = choose_accel(host, req.accel, nested=req.nested)
    user = check_name(req.user, "user") if req.user else (image.default_user or "root")
    disks = [DiskSpec(f"{pool_path}/{req.name}-vda.qcow2")]
    if seed_path:
        disks.append(DiskSpec(seed_path, target="hdc", format="raw", device="cdrom", bus="ide"))
    if req.network:  # a libvirt network: SSH at the guest's DHCP-lease address, no forward port
        nic, meta_port = NicSpec(kind="network", network=req.network, mac=_mac()), None
    else:
        nic, meta_port = NicSpec(kind="user", mac=_mac(), ssh_port=ssh_port), ssh_port
    spec = DomainSpec(
        name=req.name, vcpus=req.cpus, memory_mib=req.memory_mib, accel=decision.accel,
        nested_feature=virt.cpu_flag if req.nested else None,
        disks=tuple(disks), nics=(nic,),
        boot=DirectBoot(image.kernel, image.initrd, image.cmdline) if image.boot == "direct" else None,
        meta=VmMeta(image=image.name, template=template.name, accel_reason=decision.reason,
                    ssh_user=user, ssh_port=meta_port, ssh_host_key=strip_comment(host_key) if host_key else "",
                    ssh_key_path=key_path),
        uuid=vm_uuid,
    )
    return render_domain(template.xml, spec, source=f"template {template.name!r}"), spec


def placeholder_image(name: str, pool_path: str, *, direct: bool) -> Image:
    """An image description for previews when the real image is not built yet."""
    base = f"{pool_path}/{name}.base"
    if direct:
        return Image(name=name, format="qcow2", path=f"{base}.qcow2", virtual_size=0, boot="direct",
                     kernel=f"{base}.vmlinuz", initrd=f"{base}.initrd", cmdline="console=ttyS0 root=/dev/vda rw",
                     default_user="root")
    return Image(name=name, format="qcow2", path=f"{base}.qcow2", virtual_size=0)


def _mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
