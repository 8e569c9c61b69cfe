"""Before anything is made: every host resource a template names (networks, bridges,
host devices and files, firmware, the TPM emulator, hugepages, the machine type)
is there, or each missing one is named with a hint; what the host is, for the parts
of a template tied to a host (host_view); and libvirt's own define/start errors that
still get through name the template element they are about."""

from __future__ import annotations

import functools
import re

from vmctl.errors import InvalidInput, NotFound, VmctlError
from vmctl.libvirtxml.capabilities import parse_capabilities
from vmctl.local import hostres, listeners
from vmctl.spec.template import HostNeed, HostView
from vmctl.virt import networks
from vmctl.virt.host import Host, capabilities_xml, spice_tls_enabled


class MissingResources(InvalidInput):
    """Host resources a template names are missing; ``missing`` lists (element, problem, hint)."""

    def __init__(self, source: str, missing: list[tuple[str, str, str]]) -> None:
        self.missing = missing
        super().__init__(f"{source} needs what this host does not have: "
                         + "; ".join(f"{element}: {problem}" for element, problem, _ in missing),
                         hint="; ".join(dict.fromkeys(h for _, _, h in missing)))


def check_host(host: Host, needs: tuple[HostNeed, ...], *, source: str) -> None:
    """Raise MissingResources naming every need the host cannot meet. Files, bridges and
    programs are checked where the host is this machine."""
    missing: list[tuple[str, str, str]] = []
    machines: frozenset[str] | None = None
    for need in needs:
        if need.kind == "machine":
            if machines is None:
                machines = parse_capabilities(capabilities_xml(host)).machines
            problem = _machine(need, machines)
        else:
            problem = _check(host, need)
        if problem:
            missing.append((need.element, *problem))
    if missing:
        raise MissingResources(source, missing)


def host_view(host: Host) -> HostView:
    """The host as the template pre-flight sees it. CPUs, NUMA nodes and SPICE TLS come
    from the libvirt daemon (so they hold for a remote host too); addresses and listening
    servers are seen on this machine only, and are unknown (None) for a remote host."""
    caps = parse_capabilities(capabilities_xml(host))
    spice_tls = functools.cache(lambda: spice_tls_enabled(host))  # asked only of templates that use it
    if not host.is_local:
        return HostView(local=False, cpus=caps.host_cpus, nodes=caps.host_nodes, spice_tls=spice_tls)
    return HostView(local=True, cpus=caps.host_cpus, nodes=caps.host_nodes, spice_tls=spice_tls,
                    has_address=listeners.has_address, listening=_listening, exists=hostres.path_exists)


def _listening(kind: str, target: str) -> bool:
    if kind == "unix":
        return listeners.unix_listening(target)
    address, _, port = target.rpartition(":")
    return port.isdigit() and listeners.tcp_listening(address, int(port))


def _machine(need: HostNeed, machines: frozenset[str]) -> tuple[str, str] | None:
    if not machines or need.name in machines:
        return None
    family = "q35" if "q35" in need.name else "pc"
    return (f"machine type {need.name!r} is not known to this host's QEMU",
            f"use machine='{family}' (this QEMU's newest {family} machine) in <os><type>")


def _check(host: Host, need: HostNeed) -> tuple[str, str] | None:  # noqa: C901 - one table
    if need.kind == "network":
        try:
            info = networks.network_info(host, need.name)
        except NotFound:
            return (f"libvirt network {need.name!r} does not exist",
                    "define it (`virsh net-define`), or use a network of `virsh net-list --all`")
        return None if info.active else (f"libvirt network {need.name!r} is not active",
                                         f"start it: virsh net-start {need.name}")
    if not host.is_local:
        return None  # the rest is looked up on this machine only
    if need.kind == "bridge" and not hostres.is_bridge(need.name):
        return (f"bridge {need.name!r} does not exist", f"create it (ip link add {need.name} type bridge) "
                "or use a libvirt network")
    if need.kind == "interface" and not hostres.interface_exists(need.name):
        return (f"host interface {need.name!r} does not exist", "name an interface of `ip link`")
    if need.kind == "file":
        if need.writable and not hostres.parent_dir_exists(need.name):
            return (f"directory of {need.name} does not exist", "create the directory or change the path")
        if not need.writable and not hostres.path_exists(need.name):
            return (f"{need.name} does not exist on this host", "change the path in the template")
    if need.kind == "directory" and not hostres.is_dir(need.name):
        return (f"directory {need.name} does not exist", "create it or change <source dir=...>")
    if need.kind == "firmware":
        if need.name == "efi":
            if not hostres.uefi_firmware():
                return ("no UEFI firmware is installed", "apt-get install ovmf")
        elif not hostres.path_exists(need.name):
            hint = "apt-get install ovmf" if "OVMF" in need.name or "ovmf" in need.name else "install the firmware"
            return (f"firmware file {need.name} does not exist",
                    f"{hint}, or use <os firmware='efi'> to let libvirt pick this host's firmware")
    if need.kind == "tpm" and not hostres.has_program("swtpm"):
        return ("the TPM emulator swtpm is not installed", "apt-get install swtpm swtpm-tools")
    if need.kind == "hugepages" and hostres.hugepages_total() == 0:
        return ("no hugepages are reserved on this host", "reserve some: sysctl vm.nr_hugepages=N")
    return None


# libvirt's words -> the template element they are about, for errors that get past pre-flight.
_ELEMENTS = (
    (r"IDE controller|bus 'ide'|\bide\b", "<controller type='ide'> / <disk bus='ide'>"),
    (r"machine type|emulator .*machine", "<os><type machine=...>"),
    (r"loader|nvram|firmware|pflash|secure boot|smm", "<os><loader>/<nvram> (firmware)"),
    (r"\bnetwork\b", "<interface type='network'>"),
    (r"bridge|tap|macvtap", "<interface>"),
    (r"\btpm\b|swtpm", "<tpm>"),
    (r"hugepage", "<memoryBacking>"),
    (r"secret", "<auth>/<encryption> (a libvirt secret)"),
    (r"topology|vcpu", "<vcpu>/<cpu><topology>"),
    (r"numa", "<cpu><numa>"),
    (r"spice|vnc|graphics", "<graphics>"),
    (r"chardev|serial|console|channel", "<serial>/<console>/<channel>"),
    (r"PCI|slot|pcie", "an <address type='pci'> (a PCI slot)"),
    (r"usb|redir", "<controller type='usb'>/<redirdev>"),
    (r"watchdog", "<watchdog>"),
    (r"disk|drive|storage|target", "<disk>"),
)


def naming_element(error: VmctlError, *, source: str, step: str) -> VmctlError:
    """``error`` from libvirt's define or start, said in terms of the template element."""
    text = error.message.split(": ", 1)[-1]
    for pattern, element in _ELEMENTS:
        if re.search(pattern, text, re.IGNORECASE):
            return type(error)(f"{source}: {element}: libvirt refused to {step} it: {text}",
                               hint=f"fix or remove {element} in the template; {error.hint}")
    return type(error)(f"{source}: libvirt refused to {step} it: {text}", hint=error.hint)
