"""Reading facts back from a domain's XML (libvirt's output or vmctl's own render)."""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.libvirtxml.metadata import VMCTL_NS, read_metadata
from vmctl.libvirtxml.safe import parse_untrusted
from vmctl.spec.meta import VmMeta

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"  # (as libvirtxml.domain writes it)

_V = f"{{{VMCTL_NS}}}"


@dataclass(frozen=True)
class DiskFacts:
    target: str
    path: str
    format: str
    device: str
    backing: tuple[str, ...] = ()  # the backing chain libvirt reports (running domains), nearest first


@dataclass(frozen=True)
class DomainFacts:
    """What vmctl reads back from a domain's XML."""

    name: str
    uuid: str
    domain_type: str
    vcpus: int
    memory_mib: int
    disks: tuple[DiskFacts, ...]
    meta: VmMeta
    accel: str
    managed: bool  # has vmctl metadata
    kernel: str = ""  # direct kernel boot: the host's kernel and initrd files
    initrd: str = ""
    nvram: str = ""  # the UEFI variables file libvirt keeps for this domain ("" for BIOS)
    internet: bool = False  # vmctl's user-mode NIC is not restricted: the guest has a route out


def parse_domain(xml: str | bytes) -> DomainFacts:
    root = parse_untrusted(xml, source="domain XML")
    memory = root.find("memory")
    mem_kib = int(memory.text) * _unit_kib(memory.get("unit", "KiB")) if memory is not None else 0
    disks = []
    for disk in root.findall("devices/disk"):
        source = disk.find("source")
        driver = disk.find("driver")
        target = disk.find("target")
        disks.append(DiskFacts(
            target=target.get("dev", "") if target is not None else "",
            path=(source.get("file") or source.get("dev") or "") if source is not None else "",
            format=driver.get("type", "") if driver is not None else "",
            device=disk.get("device", "disk"),
            backing=tuple(p for s in disk.iterfind(".//backingStore/source")
                          if (p := s.get("file") or s.get("dev"))),
        ))
    vm = root.find(f"metadata/{_V}vm")
    meta = read_metadata(vm)
    accel = "kvm" if root.get("type") == "kvm" else "tcg"
    netdevs = [a.get("value", "") for a in root.iterfind(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg")
               if a.get("value", "").startswith("user,id=vmctlnet")]
    return DomainFacts(
        internet=any("restrict=on" not in v.split(",") for v in netdevs),
        name=root.findtext("name", ""),
        uuid=root.findtext("uuid", ""),
        domain_type=root.get("type", ""),
        vcpus=int(root.findtext("vcpu", "1")),
        memory_mib=mem_kib // 1024,
        disks=tuple(disks),
        meta=meta,
        accel=accel,
        managed=vm is not None,
        kernel=root.findtext("os/kernel", "") or "",
        initrd=root.findtext("os/initrd", "") or "",
        nvram=_nvram(root),
    )


def _nvram(root) -> str:
    nvram = root.find("os/nvram")
    if nvram is not None:
        return (nvram.text or "").strip() or "nvram"
    os_el = root.find("os")
    return "efi" if os_el is not None and (os_el.get("firmware") == "efi" or os_el.find("loader") is not None) else ""


def _unit_kib(unit: str) -> int:
    """libvirt reports memory in KiB; templates may say MiB or GiB."""
    factors = {"k": 1, "kib": 1, "m": 1024, "mib": 1024, "g": 1024**2, "gib": 1024**2}
    return factors.get(unit.lower(), 1)
