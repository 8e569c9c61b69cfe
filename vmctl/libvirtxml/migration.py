"""What a migration reads from a domain's XML: the CPU to compare on the destination,
and every host file the domain needs there (disks, CD-ROMs, kernel, initrd)."""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.libvirtxml.safe import parse_untrusted, to_string


@dataclass(frozen=True)
class CpuFacts:
    xml: str | None        # the domain's <cpu> element (None: the hypervisor's default CPU)
    arch: str
    machine: str
    domain_type: str       # qemu (TCG) or kvm
    mode: str              # custom, host-model, host-passthrough, maximum


def cpu_facts(xml: str) -> CpuFacts:
    root = parse_untrusted(xml, source="domain XML")
    ostype = root.find("os/type")
    cpu = root.find("cpu")
    return CpuFacts(
        xml=to_string(cpu) if cpu is not None and cpu.find("model") is not None else None,
        arch=ostype.get("arch", "") if ostype is not None else "",
        machine=ostype.get("machine", "") if ostype is not None else "",
        domain_type=root.get("type", ""),
        mode=cpu.get("mode", "custom") if cpu is not None else "",
    )


def host_files(xml: str) -> list[str]:
    """Every host file the domain opens: disk and CD-ROM sources, kernel and initrd."""
    root = parse_untrusted(xml, source="domain XML")
    files = [s.get("file") or "" for s in root.iterfind("devices/disk/source")]
    files += [root.findtext(tag, "") for tag in ("os/kernel", "os/initrd")]
    return [f for f in files if f]


def host_cpu_xml(capabilities: str) -> str | None:
    """The host's own ``<cpu>`` from libvirt's capabilities (model, vendor, features), as
    ``virConnectCompareCPU`` takes it; None when the capabilities name none."""
    cpu = parse_untrusted(capabilities, source="host capabilities").find("host/cpu")
    return to_string(cpu) if cpu is not None and cpu.find("model") is not None else None
