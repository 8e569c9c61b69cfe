"""Reading libvirt's host capabilities XML."""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.libvirtxml.safe import parse_untrusted


@dataclass(frozen=True)
class CapsFacts:
    cpu_features: frozenset[str]
    domain_types: frozenset[str]  # e.g. {"qemu", "kvm"} for x86_64 hvm guests
    host_uuid: str = ""           # libvirt refuses to migrate between hosts with the same one
    machines: frozenset[str] = frozenset()  # x86_64 machine types and their aliases (pc, q35, pc-q35-7.2, ...)
    host_cpus: frozenset[int] | None = None   # the host's CPU ids (<topology>), None if not listed
    host_nodes: frozenset[int] | None = None  # the host's NUMA node ids, None if not listed
    cpu_arch: str = ""            # <host><cpu>: what placement compares for a host-passthrough guest
    cpu_model: str = ""
    cpu_vendor: str = ""


def parse_capabilities(xml: str) -> CapsFacts:
    root = parse_untrusted(xml, source="capabilities XML")
    features = {f.get("name", "") for f in root.findall("host/cpu/feature")}
    types = {
        d.get("type", "")
        for guest in root.findall("guest")
        if guest.findtext("os_type") == "hvm" and guest.find("arch[@name='x86_64']") is not None
        for d in guest.findall("arch/domain")
    }
    machines = {
        name
        for guest in root.findall("guest")
        if guest.findtext("os_type") == "hvm" and guest.find("arch[@name='x86_64']") is not None
        for m in guest.iterfind("arch//machine")
        for name in (m.text or "", m.get("canonical", ""))
        if name
    }
    cells = root.findall("host/topology/cells/cell")
    cpus = {int(c.get("id", "")) for c in root.iterfind("host/topology/cells/cell/cpus/cpu")
            if c.get("id", "").isdigit()}
    return CapsFacts(frozenset(features), frozenset(types), root.findtext("host/uuid", ""), frozenset(machines),
                     host_cpus=frozenset(cpus) if cpus else None,
                     host_nodes=frozenset(int(c.get("id", "")) for c in cells if c.get("id", "").isdigit())
                     if cells else None,
                     cpu_arch=root.findtext("host/cpu/arch", ""), cpu_model=root.findtext("host/cpu/model", ""),
                     cpu_vendor=root.findtext("host/cpu/vendor", ""))
