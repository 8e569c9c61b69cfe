"""Reading a (cleaned) template: machine, firmware, disks, controllers, PCI slots in
use, the host resources it names and the parts a new VM cannot use; and dropping
those parts on request."""

from __future__ import annotations

from lxml import etree

from vmctl.libvirtxml.hostties import fit, host_ties, tidy
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.spec.template import HostNeed, TemplateDisk, TemplateFacts, Unusable

_UNITS_MIB = {"b": 1 / 2**20, "bytes": 1 / 2**20, "k": 1 / 1024, "kib": 1 / 1024, "kb": 1000 / 2**20,
              "m": 1, "mib": 1, "mb": 10**6 / 2**20, "g": 1024, "gib": 1024, "gb": 10**9 / 2**20,
              "t": 2**20, "tib": 2**20}


def template_facts(xml: bytes | str | etree._Element, *, source: str = "template") -> TemplateFacts:
    root = xml if isinstance(xml, etree._Element) else parse_untrusted(xml, source=source)
    os_el = root.find("os")
    type_el = os_el.find("type") if os_el is not None else None
    tree = root.getroottree()
    disks = tuple(_disk(i, d) for i, d in enumerate(root.findall("devices/disk")))
    boot = boot_disk(disks)
    unusable: list[Unusable] = []
    for disk, el in zip(disks, root.findall("devices/disk")):
        if disk.device in ("disk", "lun") and disk is not boot:
            unusable.append(Unusable(
                f"<disk> {disk.target} ({disk.source or 'no source'})",
                "a second disk: vmctl gives a new VM a linked clone of its image as the boot disk only, "
                "and would otherwise share this disk with the template's VM", _path(tree, el)))
    for el in root.findall("devices/hostdev"):
        unusable.append(Unusable(f"<hostdev type='{el.get('type', '')}'>",
                                 "passes a host device through; it cannot be given to a second VM",
                                 _path(tree, el)))
    for el in root.findall("devices/interface"):
        if el.get("type") in ("hostdev", "vhostuser", "vdpa"):
            unusable.append(Unusable(f"<interface type='{el.get('type')}'>",
                                     "a host device or socket bound to one VM", _path(tree, el)))
    for el in root.findall("devices/tpm"):
        backend = el.find("backend")
        if backend is not None and backend.get("type") == "passthrough":
            unusable.append(Unusable("<tpm> passthrough", "passes the host's TPM through", _path(tree, el)))
    serial0 = _serial0(root)
    if serial0 is not None and serial0[0] != "pty":
        unusable.append(Unusable(f"<serial type='{serial0[0]}'> port 0",
                                 "vmctl reads the guest's boot marker from a pty serial console on port 0",
                                 _path(tree, serial0[1]), replace_with_pty=True))
    cpu = root.find("cpu")
    topo = cpu.find("topology") if cpu is not None else None
    cells = cpu.findall("numa/cell") if cpu is not None else []
    return TemplateFacts(
        machine=type_el.get("machine", "pc") if type_el is not None else "pc",
        arch=type_el.get("arch", "x86_64") if type_el is not None else "x86_64",
        direct_boot=os_el is not None and os_el.find("kernel") is not None,
        efi=os_el is not None and (os_el.get("firmware") == "efi" or os_el.find("loader") is not None),
        secure_boot=_secure_boot(os_el),
        vcpus=_int(root.findtext("vcpu")),
        memory_mib=_mib(root.find("memory")),
        topology_cpus=_product(topo, ("sockets", "dies", "cores", "threads")) if topo is not None else None,
        numa_cpus=max((_max_cpu(c.get("cpus", "")) for c in cells), default=-1) + 1 if cells else None,
        numa_memory_mib=sum(_mib(c) or 0 for c in cells) if cells else None,
        os_boot_devs=tuple(b.get("dev", "") for b in os_el.findall("boot")) if os_el is not None else (),
        disks=disks,
        controllers=tuple((c.get("type", ""), c.get("model", "")) for c in root.findall("devices/controller")),
        pci_slots=frozenset(
            (int(a.get("bus", "0"), 0), int(a.get("slot", "0"), 0))
            for a in root.iterfind("devices//address[@type='pci']") if a.get("domain", "0") in ("0", "0x0000")),
        serial0=serial0[0] if serial0 else None,
        needs=tuple(_needs(root, os_el)),
        unusable=tuple(unusable),
        ties=tuple(host_ties(root)),
    )


def boot_disk(disks: tuple[TemplateDisk, ...]) -> TemplateDisk | None:
    """The disk the template boots from: the lowest boot order, else the first disk."""
    candidates = [d for d in disks if d.device in ("disk", "lun")]
    ordered = [d for d in candidates if d.boot_order is not None]
    if ordered:
        return min(ordered, key=lambda d: d.boot_order or 0)
    return candidates[0] if candidates else None


def drop_unusable(xml: bytes | str, unusable: tuple[Unusable, ...], *, source: str = "template") -> bytes:
    """The template without the elements of ``unusable``, or with them fitted as each
    says (a non-pty serial port 0 becomes a pty, graphics listen on loopback, ...)."""
    root = parse_untrusted(xml, source=source)
    found = [(u, root.find(u.path)) for u in unusable]
    for item, el in found:
        if el is None or el.getparent() is None:
            continue
        if fit(el, item):
            continue
        if item.replace_with_pty:
            el.attrib.clear()
            el.set("type", "pty")
            for child in list(el):
                if child.tag != "target":
                    el.remove(child)
        else:
            el.getparent().remove(el)
    tidy(root)
    return to_string(root).encode()


def _path(tree: etree._ElementTree, el: etree._Element) -> str:
    return tree.getpath(el).split("/", 2)[2]  # "/domain/devices/disk[2]" -> "devices/disk[2]"


def _disk(index: int, el: etree._Element) -> TemplateDisk:
    target = el.find("target")
    source = el.find("source")
    kind = el.get("type", "file") if source is not None else ""
    value = ""
    if source is not None:
        if kind == "network":
            value = f"{source.get('protocol', '')}:{source.get('name', '')}"
        elif kind == "volume":
            value = f"{source.get('pool', '')}/{source.get('volume', '')}"
        else:
            value = source.get("file") or source.get("dev") or source.get("dir") or ""
    boot = el.find("boot")
    address = el.find("address[@type='drive']")
    return TemplateDisk(
        index=index, device=el.get("device", "disk"),
        bus=target.get("bus", "") if target is not None else "",
        target=target.get("dev", "") if target is not None else "",
        source_kind=kind, source=value,
        boot_order=_int(boot.get("order")) if boot is not None else None,
        drive_address=tuple(int(address.get(k, "0"), 0) for k in ("controller", "bus", "target", "unit"))
        if address is not None else None,  # type: ignore[arg-type]
    )


def _serial0(root: etree._Element) -> tuple[str, etree._Element] | None:
    for serial in root.findall("devices/serial"):
        target = serial.find("target")
        port = target.get("port", "0") if target is not None else "0"
        if port == "0":
            return serial.get("type", "pty"), serial
    return None


def _secure_boot(os_el: etree._Element | None) -> bool:
    if os_el is None:
        return False
    loader = os_el.find("loader")
    feature = os_el.find("firmware/feature[@name='secure-boot']")
    return (loader is not None and loader.get("secure") == "yes") or \
        (feature is not None and feature.get("enabled") == "yes")


def _needs(root: etree._Element, os_el: etree._Element | None) -> list[HostNeed]:
    needs: list[HostNeed] = []
    machine = root.find("os/type")
    if machine is not None and machine.get("machine"):
        needs.append(HostNeed("machine", machine.get("machine", ""), "<os><type machine=...>"))
    if os_el is not None:
        loader = os_el.find("loader")
        if loader is not None and (loader.text or "").strip():
            needs.append(HostNeed("firmware", loader.text.strip(), "<os><loader>"))
        nvram = os_el.find("nvram")
        if nvram is not None and nvram.get("template"):
            needs.append(HostNeed("firmware", nvram.get("template", ""), "<os><nvram template=...>"))
        if os_el.get("firmware") == "efi":
            needs.append(HostNeed("firmware", "efi", "<os firmware='efi'>"))
    for iface in root.findall("devices/interface"):
        source = iface.find("source")
        kind = iface.get("type", "")
        if source is None:
            continue
        if kind == "network" and source.get("network"):
            needs.append(HostNeed("network", source.get("network", ""), "<interface type='network'>"))
        elif kind == "bridge" and source.get("bridge"):
            needs.append(HostNeed("bridge", source.get("bridge", ""), "<interface type='bridge'>"))
        elif kind == "direct" and source.get("dev"):
            needs.append(HostNeed("interface", source.get("dev", ""), "<interface type='direct'>"))
    for tag in ("serial", "console", "parallel", "channel"):
        for dev in root.findall(f"devices/{tag}"):
            source = dev.find("source")
            path = source.get("path", "") if source is not None else ""
            kind = dev.get("type", "")
            if kind == "file" and path:
                needs.append(HostNeed("file", path, f"<{tag} type='file'>", writable=True))
            elif kind == "dev" and path:
                needs.append(HostNeed("file", path, f"<{tag} type='dev'>"))
            elif kind == "unix" and path and source.get("mode") == "bind":
                needs.append(HostNeed("file", path, f"<{tag} type='unix'>", writable=True))
            log = dev.find("log")
            if log is not None and log.get("file"):
                needs.append(HostNeed("file", log.get("file", ""), f"<{tag}><log file=...>", writable=True))
    for listen in root.findall("devices/graphics/listen[@type='network']"):
        if listen.get("network"):
            needs.append(HostNeed("network", listen.get("network", ""), "<graphics><listen type='network'>"))
    for fs in root.findall("devices/filesystem"):
        source = fs.find("source")
        if source is not None and source.get("dir"):
            needs.append(HostNeed("directory", source.get("dir", ""), "<filesystem>"))
    for tpm in root.findall("devices/tpm"):
        backend = tpm.find("backend")
        if backend is not None and backend.get("type") == "emulator":
            needs.append(HostNeed("tpm", "swtpm", f"<tpm model='{tpm.get('model', '')}'>"))
    for rng in root.findall("devices/rng/backend[@model='random']"):
        if (rng.text or "").strip():
            needs.append(HostNeed("file", rng.text.strip(), "<rng><backend model='random'>"))
    if root.find("memoryBacking/hugepages") is not None:
        needs.append(HostNeed("hugepages", "hugepages", "<memoryBacking><hugepages>"))
    return needs


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _mib(el: etree._Element | None) -> int | None:
    if el is None:
        return None
    raw = el.text if el.tag != "cell" else el.get("memory")
    value = _int((raw or "").strip())
    if value is None:
        return None
    return int(value * _UNITS_MIB.get(el.get("unit", "KiB").lower(), 1 / 1024))


def _product(el: etree._Element, attrs: tuple[str, ...]) -> int:
    result = 1
    for attr in attrs:
        result *= _int(el.get(attr)) or 1
    return result


def _max_cpu(cpus: str) -> int:
    """The highest vCPU index in a cpuset like '0-1,3'."""
    best = -1
    for part in cpus.replace("^", "").split(","):
        bounds = [b for b in part.split("-") if b.strip().isdigit()]
        if bounds:
            best = max(best, int(bounds[-1]))
    return best
