"""What the host can do: accelerator, KVM, nesting, versions, resources."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vmctl.local.kvm import probe_host
from vmctl.policy.accel import AccelDecision, HostVirt, decide
from vmctl.libvirtxml.capabilities import parse_capabilities
from vmctl.spec.domain import Accel
from vmctl.virt.host import Host, capabilities_xml
from vmctl.virt.storage import Pool


def host_virt(host: Host) -> HostVirt:
    """Probe this machine directly when libvirt runs here; else trust libvirt's capabilities."""
    if host.is_local:
        return probe_host()
    caps = parse_capabilities(capabilities_xml(host))
    flag = "vmx" if "vmx" in caps.cpu_features else "svm" if "svm" in caps.cpu_features else None
    kvm = "kvm" in caps.domain_types
    modules = (("kvm", "kvm_intel" if flag == "vmx" else "kvm_amd") if flag else ("kvm",)) if kvm else ()
    return HostVirt(kvm_device=kvm, kvm_device_usable=kvm, cpu_flag=flag, kvm_modules=modules, nested=False)


def choose_accel(host: Host, requested: Accel | None, *, nested: bool = False) -> tuple[AccelDecision, HostVirt]:
    virt = host_virt(host)
    return decide(virt, requested, nested=nested), virt


@dataclass(frozen=True)
class HostInfo:
    uri: str
    hostname: str
    accel: str
    accel_reason: str
    kvm_usable: bool
    nested_available: bool
    kvm_device: bool
    cpu_virt_flag: str | None
    kvm_modules: list[str]
    libvirt_version: str
    hypervisor_version: str
    cpus: int
    memory_mib: int
    free_memory_mib: int
    pool: str
    pool_path: str | None
    pool_free_bytes: int | None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def host_info(host: Host, pool: Pool | None, pool_name: str) -> HostInfo:
    decision, virt = choose_accel(host, None)
    facts = host.facts()
    return HostInfo(
        uri=facts.uri, hostname=facts.hostname, accel=decision.accel.value, accel_reason=decision.reason,
        kvm_usable=decision.kvm_usable, nested_available=decision.nested_available,
        kvm_device=virt.kvm_device, cpu_virt_flag=virt.cpu_flag, kvm_modules=list(virt.kvm_modules),
        libvirt_version=facts.libvirt_version, hypervisor_version=facts.hypervisor_version,
        cpus=facts.cpus, memory_mib=facts.memory_mib, free_memory_mib=facts.free_memory_mib,
        pool=pool_name, pool_path=pool.path if pool else None,
        pool_free_bytes=pool.available() if pool else None,
    )
