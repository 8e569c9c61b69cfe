"""Resolving a create request into a full DomainSpec: template, accelerator, user,
disks, NIC. Pure: every fact it needs (image, template, accelerator decision,
port, keys) is gathered before and passed in."""

from __future__ import annotations

import secrets

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.templatefacts import boot_disk
from vmctl.ops.templates import Template
from vmctl.policy.accel import AccelDecision
from vmctl.policy.devices import place_devices
from vmctl.policy.ports import PORT_RANGE
from vmctl.spec.domain import DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.spec.image import Image
from vmctl.spec.names import check_name
from vmctl.spec.request import CreateRequest
from vmctl.spec.template import TemplateFacts
from vmctl.spec.volumes import disk_volume, seed_volume
from vmctl.ssh.keys import strip_comment

DEFAULT_VCPUS = 1
DEFAULT_MEMORY_MIB = 512


def default_template_name(image: Image) -> str:
    return "linux-direct" if image.boot == "direct" else "linux-q35"  # q35 boots as fast as pc: bench/machines.py


def disk_volume_name(vm: str) -> str:
    return disk_volume(vm)


def seed_volume_name(vm: str) -> str:
    return seed_volume(vm)


def random_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))


def resolve_spec(req: CreateRequest, image: Image, template: Template, facts: TemplateFacts,
                 decision: AccelDecision, cpu_flag: str | None, pool_path: str, *, mac: str,
                 vm_uuid: str | None = None, ssh_port: int = PORT_RANGE.start, seed_path: str | None = None,
                 host_key: str = "", key_path: str = "") -> DomainSpec:
    """The DomainSpec for ``req``: disks in ``pool_path`` placed to fit the template's
    machine (policy.devices), a user-mode NIC forwarding ``ssh_port`` (or the libvirt
    network asked for), vCPUs and memory (asked for, else the template's), vmctl's metadata."""
    source = f"template {template.name!r}"
    user = check_name(req.user, "user") if req.user else (image.default_user or "root")
    vcpus, memory = resources(req, facts, source)
    place = place_devices(facts, boot_disk(facts.disks), source=source)
    disks = [DiskSpec(f"{pool_path}/{disk_volume_name(req.name)}", target=place.disk.target, bus=place.disk.bus,
                      replaces=place.disk.replaces, address=place.disk.address)]
    if seed_path:
        disks.append(DiskSpec(seed_path, target=place.seed.target, format="raw", device="cdrom", bus=place.seed.bus,
                              replaces=place.seed.replaces, address=place.seed.address))
    if req.network:  # a libvirt network: SSH at the guest's DHCP-lease address, no forward port
        nic, meta_port = NicSpec(kind="network", network=req.network, mac=mac, internet=req.internet), None
    else:
        if not place.nic_slots:
            raise InvalidInput(f"{source} uses every PCI slot vmctl could plug its NIC into (0x10-0x1e)",
                               hint="free a slot in that range on the root bus")
        nic = NicSpec(kind="user", mac=mac, ssh_port=ssh_port, pci_bus=place.nic_bus, pci_slot=place.nic_slots[0],
                      internet=req.internet)
        meta_port = ssh_port
    if req.attach and len(req.attach) > len(place.nic_slots) - 1:
        raise InvalidInput(f"{source} has no free PCI slot for {len(req.attach)} more NICs (0x10-0x1e)",
                           hint="attach the VM to fewer networks")
    # after the first NIC's slot: the guest enumerates them after it, so its first NIC (the one
    # tiny and cloud-init configure by DHCP) stays the first
    extra = tuple(NicSpec(kind="network", network=network, mac=nic_mac, pci_slot=slot)
                  for (network, nic_mac), slot in zip(req.attach, place.nic_slots[1:]))
    return DomainSpec(
        name=req.name, vcpus=vcpus, memory_mib=memory, accel=decision.accel, add_serial=place.add_serial,
        nested_feature=cpu_flag if req.nested else None,
        disks=tuple(disks), nics=(nic, *extra),
        boot=DirectBoot(image.kernel, image.initrd, image.cmdline) if image.boot == "direct" else None,
        meta=VmMeta(image=image.name, template=template.name, accel_reason=decision.reason,
                    ssh_user=user, ssh_port=meta_port, ssh_host_key=strip_comment(host_key) if host_key else "",
                    ssh_key_path=key_path, labels=req.labels,
                    volumes=(disk_volume_name(req.name), seed_volume_name(req.name)) if seed_path else
                    (disk_volume_name(req.name),)),
        uuid=vm_uuid,
    )


def resources(req: CreateRequest, facts: TemplateFacts, source: str) -> tuple[int, int]:
    """vCPUs and memory: what was asked for, else the template's; they must fit the
    template's CPU topology and NUMA cells, which vmctl does not rewrite."""
    vcpus = req.cpus or facts.vcpus or DEFAULT_VCPUS
    memory = req.memory_mib or facts.memory_mib or DEFAULT_MEMORY_MIB
    if facts.topology_cpus is not None and facts.topology_cpus != vcpus:
        raise InvalidInput(f"{source}: <cpu><topology> describes {facts.topology_cpus} vCPUs, the VM would get {vcpus}",
                           hint=f"give --cpus {facts.topology_cpus}, or change the topology in the template")
    if facts.numa_cpus is not None and facts.numa_cpus > vcpus:
        raise InvalidInput(f"{source}: <cpu><numa> cells name {facts.numa_cpus} vCPUs, the VM would get {vcpus}",
                           hint=f"give --cpus {facts.numa_cpus}")
    if facts.numa_memory_mib is not None and facts.numa_memory_mib != memory:
        raise InvalidInput(f"{source}: <cpu><numa> cells hold {facts.numa_memory_mib} MiB, the VM would get "
                           f"{memory} MiB", hint=f"give --memory {facts.numa_memory_mib}M")
    return vcpus, memory
