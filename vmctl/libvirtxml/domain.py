"""Domain XML: render a template from a DomainSpec (reading back: facts.py; edits: edits.py).

Templates give the structure (machine type, devices, boot style); every value
comes from the spec and is set through the lxml API, never by formatting text.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.metadata import VMCTL_NS, metadata_element
from vmctl.libvirtxml.safe import parse_untrusted, to_string
from vmctl.libvirtxml.schema import validate
from vmctl.spec.domain import Accel, DiskSpec, DomainSpec, NicSpec, VmMeta

QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
_V = f"{{{VMCTL_NS}}}"
_Q = f"{{{QEMU_NS}}}"
# The user-mode NIC is added behind libvirt's back (libvirt 9.0 has no port
# forwards for it), so it needs a fixed PCI slot that libvirt will not use
# (chosen per template by policy.devices; this is the default).
USER_NIC_PCI_SLOTS = (0x10, 0x11, 0x12, 0x13)


@dataclass(frozen=True)
class TemplateInfo:
    description: str
    direct_boot: bool


def template_info(root: etree._Element, *, source: str) -> TemplateInfo:
    """Check a parsed template's shape and read its description."""
    if root.tag != "domain":
        raise InvalidInput(f"{source} is not a libvirt domain template (root is <{root.tag}>)",
                           hint="a template's root element is <domain>")
    if root.find("os") is None or root.find("devices") is None:
        raise InvalidInput(f"{source} lacks <os> or <devices>", hint="start from `vmctl template show linux`")
    desc = root.find(f"metadata/{_V}template")
    return TemplateInfo(
        description=desc.get("description", "") if desc is not None else "",
        direct_boot=root.find("os/kernel") is not None,
    )


def render_domain(template_xml: bytes | str, spec: DomainSpec, *, source: str = "template") -> str:
    """Fill ``template_xml`` from ``spec``; the result is schema-validated."""
    tmpl = parse_untrusted(template_xml, source=source)
    info = template_info(tmpl, source=source)
    root = etree.Element("domain", nsmap={"qemu": QEMU_NS} if _user_nics(spec) else None)
    for key, value in tmpl.attrib.items():
        root.set(key, value)
    for child in list(tmpl):
        root.append(child)
    root.set("type", spec.accel.domain_type)

    name = _set_child(root, "name")
    name.text = spec.name
    if spec.uuid:
        uuid = root.find("uuid")
        if uuid is None:
            uuid = etree.Element("uuid")
            name.addnext(uuid)  # the schema wants <uuid> right after <name>
        uuid.text = spec.uuid
    for tag in ("memory", "currentMemory"):
        el = _set_child(root, tag)
        el.attrib.clear()
        el.set("unit", "MiB")
        el.text = str(spec.memory_mib)
    vcpu = _set_child(root, "vcpu")
    vcpu.attrib.pop("current", None)
    vcpu.text = str(spec.vcpus)

    _render_boot(root, spec, info, source)
    _render_cpu(root, spec)
    devices = root.find("devices")
    template_disks = devices.findall("disk")
    for disk in spec.disks:
        if disk.replaces is not None:
            _fill_disk(template_disks[disk.replaces], disk)
        else:
            devices.append(_disk_element(disk))
    if spec.add_serial:
        _add_serial_console(devices)
    _render_nics(root, devices, spec.nics)
    _render_meta(root, spec.meta, spec.accel)
    validate(root, "domain")
    return to_string(root)


def _set_child(parent: etree._Element, tag: str) -> etree._Element:
    el = parent.find(tag)
    if el is None:
        el = etree.SubElement(parent, tag)
    return el


def _render_boot(root: etree._Element, spec: DomainSpec, info: TemplateInfo, source: str) -> None:
    os_el = root.find("os")
    if info.direct_boot and spec.boot is None:
        raise InvalidInput(f"{source} boots a kernel given by the host, but the image has none",
                           hint="use a disk-boot template such as 'linux' for this image")
    if spec.boot is not None and not info.direct_boot:
        raise InvalidInput(f"the image needs direct kernel boot, but {source} boots from disk",
                           hint="use the 'linux-direct' template for this image")
    if spec.boot is not None:
        _set_child(os_el, "kernel").text = spec.boot.kernel
        _set_child(os_el, "initrd").text = spec.boot.initrd
        _set_child(os_el, "cmdline").text = spec.boot.cmdline


def _render_cpu(root: etree._Element, spec: DomainSpec) -> None:
    old = root.find("cpu")
    if spec.accel is Accel.TCG:
        # TCG cannot pass the host CPU through; QEMU's default model migrates anywhere.
        # The guest's shape (topology, NUMA cells) stays.
        if old is not None:
            old.attrib.clear()
            for child in list(old):
                if child.tag not in ("topology", "numa"):
                    old.remove(child)
            if len(old) == 0:
                root.remove(old)
        return
    cpu = old if old is not None else etree.SubElement(root, "cpu")
    cpu.attrib.clear()
    cpu.set("mode", "host-passthrough")
    cpu.set("check", "none")
    cpu.set("migratable", "on")
    for feature in cpu.findall("feature"):
        if feature.get("name") in ("vmx", "svm"):
            cpu.remove(feature)
    if spec.nested_feature:
        etree.SubElement(cpu, "feature", policy="require", name=spec.nested_feature)


def _disk_element(disk: DiskSpec) -> etree._Element:
    el = etree.Element("disk", type="file", device=disk.device)
    etree.SubElement(el, "driver", name="qemu", type=disk.format)
    etree.SubElement(el, "source", file=disk.path)
    etree.SubElement(el, "target", dev=disk.target, bus=disk.bus)
    if disk.readonly or disk.device == "cdrom":
        etree.SubElement(el, "readonly")
    if disk.address is not None:
        controller, bus, target, unit = disk.address
        etree.SubElement(el, "address", type="drive", controller=str(controller), bus=str(bus),
                         target=str(target), unit=str(unit))
    return el


def disk_device_xml(disk: DiskSpec) -> str:
    """One ``<disk>`` element, for attaching to (or detaching from) a domain."""
    return etree.tostring(_disk_element(disk), encoding="unicode")


def _fill_disk(el: etree._Element, disk: DiskSpec) -> None:
    """A template's disk (its bus, target, address and boot order stay) now holding
    ``disk``'s file: the VM's linked clone, or the seed in an emptied cdrom."""
    el.set("type", "file")
    el.set("device", disk.device)
    for attr in ("sgio", "rawio", "snapshot"):  # SCSI passthrough (lun) and snapshot settings of the old storage
        el.attrib.pop(attr, None)
    driver = el.find("driver")
    if driver is None:
        driver = etree.Element("driver")
        el.insert(0, driver)
    driver.set("name", "qemu")
    driver.set("type", disk.format)
    for tag in ("source", "backingStore", "auth", "encryption", "mirror", "reservations", "slices"):
        for stale in el.findall(tag):  # the template's storage and its secrets: not this VM's file
            el.remove(stale)
    driver.addnext(etree.Element("source", file=disk.path))
    if (disk.readonly or disk.device == "cdrom") and el.find("readonly") is None:
        el.find("target").addnext(etree.Element("readonly"))
    if disk.device == "disk":
        for ro in el.findall("readonly") + el.findall("shareable"):
            el.remove(ro)


def _add_serial_console(devices: etree._Element) -> None:
    serial = etree.SubElement(devices, "serial", type="pty")
    etree.SubElement(serial, "target", port="0")
    if devices.find("console") is None:
        console = etree.SubElement(devices, "console", type="pty")
        etree.SubElement(console, "target", type="serial", port="0")


def hostfwd_option(port: int) -> str:
    """QEMU's user-mode forward of 127.0.0.1:``port`` on the host to the guest's SSH."""
    return f"hostfwd=tcp:127.0.0.1:{int(port)}-:22"


def is_ssh_hostfwd(option: str) -> bool:
    return option.startswith("hostfwd=tcp:127.0.0.1:") and option.endswith("-:22")


def _user_nics(spec: DomainSpec) -> list[NicSpec]:
    return [n for n in spec.nics if n.kind == "user"]


def _render_nics(root: etree._Element, devices: etree._Element, nics: tuple[NicSpec, ...]) -> None:
    user = [n for n in nics if n.kind == "user"]
    if len(user) > len(USER_NIC_PCI_SLOTS):
        raise InvalidInput("too many user-mode NICs", hint=f"at most {len(USER_NIC_PCI_SLOTS)}")
    slots = [n.pci_slot or default for n, default in zip(user, USER_NIC_PCI_SLOTS)]
    for nic in nics:
        if nic.kind == "network":
            iface = etree.SubElement(devices, "interface", type="network")
            etree.SubElement(iface, "mac", address=nic.mac)
            etree.SubElement(iface, "source", network=nic.network or "")
            etree.SubElement(iface, "model", type="virtio")
            if nic.pci_slot is not None:
                etree.SubElement(iface, "address", type="pci", domain="0x0000", bus="0x00", slot=f"{nic.pci_slot:#04x}",
                                 function="0x0")
    if not user:
        return
    for iface in devices.findall("interface[@type='user']"):
        # vmctl's forwarded user-mode NIC takes the place of the template's: one NIC, the guest's
        # first, which is the one a guest configures by default (tiny, cloud-init).
        devices.remove(iface)
    cmdline = root.find(f"{_Q}commandline")
    if cmdline is None:
        cmdline = etree.SubElement(root, f"{_Q}commandline")
    for index, (nic, slot) in enumerate(zip(user, slots)):
        netdev_id = f"vmctlnet{index}"
        restrict = "" if nic.internet else "restrict=on,"
        netdev = f"user,id={netdev_id},{restrict}{hostfwd_option(nic.ssh_port or 0)}"
        device = f"virtio-net-pci,netdev={netdev_id},mac={nic.mac},bus={nic.pci_bus},addr={slot:#x}"
        for value in ("-netdev", netdev, "-device", device):
            etree.SubElement(cmdline, f"{_Q}arg", value=value)


def _render_meta(root: etree._Element, meta: VmMeta, accel: Accel) -> None:
    metadata = _set_child(root, "metadata")
    for old in metadata.findall(f"{_V}template") + metadata.findall(f"{_V}vm"):
        metadata.remove(old)
    metadata.append(metadata_element(meta, accel))
