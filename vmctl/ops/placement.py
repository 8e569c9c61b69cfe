"""What placement needs to read from libvirt: one host's facts (free memory, pool space,
its CPU) and what an existing VM asks of a destination (memory, vCPUs, its own disks,
its CPU). The choice itself is pure: :mod:`vmctl.policy.placement`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmctl.libvirtxml.capabilities import parse_capabilities
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.migration import cpu_facts
from vmctl.policy.placement import HostCpu, HostFacts, PlacementRequest
from vmctl.virt import domains
from vmctl.virt.host import Host, capabilities_xml, memory_mib_if_known
from vmctl.virt.storage import Pool, pool_name_of, volume_by_path


def host_cpu(host: Host) -> tuple[HostCpu, str]:
    """The host's CPU as its libvirt names it, and its libvirt host UUID."""
    caps = parse_capabilities(capabilities_xml(host))
    return HostCpu(caps.cpu_arch, caps.cpu_model, caps.cpu_vendor, caps.cpu_features), caps.host_uuid


def host_facts(host: Host, pool: Pool | None, name: str) -> HostFacts:
    """``host``'s facts for placement, under its inventory ``name`` (labels and the drained
    flag are the inventory's, added by the caller). Free memory counts what the kernel
    reclaims for a guest (page cache), as create's own check does."""
    cpu, uuid = host_cpu(host)
    facts = host.facts()
    memory = memory_mib_if_known(host)
    return HostFacts(name, free_memory_mib=memory[0] if memory else facts.free_memory_mib,
                     pool_free_bytes=pool.available() if pool is not None else None, cpu=cpu, cpus=facts.cpus,
                     uri=host.uri, host_uuid=uuid)


@dataclass(frozen=True)
class VmNeeds:
    """What VM ``name`` asks of a destination, its state, and the pool its disks are in
    (the pool its migration goes through; None: it has none in a pool)."""

    name: str
    state: str
    request: PlacementRequest
    pool: str | None


def vm_needs(host: Host, name: str) -> VmNeeds:
    """Memory, vCPUs, the bytes of its own volumes, the CPU architecture, and for a
    host-passthrough guest the CPU it sees now (this host's)."""
    dom = domains.lookup(host, name)
    xml = dom.xml(inactive=True)
    info, cpu = parse_domain(xml), cpu_facts(xml)
    own, disk_bytes, pools = set(info.meta.volumes), 0, []
    for disk in info.disks:
        if disk.device != "disk" or not disk.path:
            continue
        pools.append(pool_name_of(host, disk.path))
        volume = volume_by_path(host, disk.path) if Path(disk.path).name in own else None
        disk_bytes += volume.allocation if volume is not None else 0
    passthrough = host_cpu(host)[0] if cpu.mode == "host-passthrough" else None
    request = PlacementRequest(memory_mib=info.memory_mib, disk_bytes=disk_bytes, cpus=info.vcpus, arch=cpu.arch,
                               passthrough_cpu=passthrough)
    return VmNeeds(name, dom.state(), request, next((p for p in pools if p), None))
