"""How VMs are shown: the `info` block and the `list` table (no typer here, so the
fast path of the reading commands can use the same views)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vmctl.cli.output import emit_json, json_line, line, note, table, write_bytes

if TYPE_CHECKING:
    from vmctl.api import VmInfo
    from vmctl.api.hosts import HostListing


def format_size(nbytes: int) -> str:
    from vmctl.api import format_size as fmt

    return fmt(nbytes)


def show_vm(vm: "VmInfo", json_out: bool, quiet: bool = False, *, lines: bool = False) -> None:
    """``lines``: the JSON on one line, the last of the command's NDJSON events."""
    if json_out:
        (json_line if lines else emit_json)(vm.to_dict())
        return
    if quiet:
        return
    for key, value in [("Name", vm.name), ("UUID", vm.uuid), ("State", vm.state), ("vCPUs", vm.vcpus),
                       ("Memory", f"{vm.memory_mib} MiB"), ("Accelerator", f"{vm.accel} ({vm.accel_reason})"),
                       ("Image", vm.image or "-"), ("Template", vm.template or "-"),
                       ("Host", f"{vm.host} ({vm.uri})" if vm.host else vm.uri or "-"),
                       ("Addresses", ", ".join(vm.addresses) or "-"),
                       ("Network", "user-mode, route out (--internet)" if vm.internet else
                        "user-mode, no route out" if vm.ssh_port else "libvirt network" if vm.addresses else "-"),
                       ("SSH", f"{vm.ssh_user}@{vm.ssh_endpoint}" if vm.ssh_endpoint else "-"),
                       ("Host key", vm.ssh_host_key_fingerprint or "- (not pinned)")]:
        line(f"{key + ':':<13} {value}")
    if vm.autostart is not None:
        line(f"{'Autostart:':<13} {'on' if vm.autostart else 'off'}")
    if vm.labels:
        line(f"{'Labels:':<13} " + " ".join(f"{k}={v}" for k, v in sorted(vm.labels.items())))
    for disk in vm.disks:
        size = format_size(disk.size) if disk.size else "?"
        base = f", base {disk.base_image}" if disk.base_image else ""
        line(f"{'Disk ' + disk.target + ':':<13} {disk.path} ({disk.device}, {size}{base})")
    for fitted in vm.fitted:
        line(f"{'Fitted:':<13} {fitted}")
    if vm.boot_seconds is not None:
        line(f"{'Booted in:':<13} {vm.boot_seconds:.1f} s; console:")
        for text in vm.console_tail:
            line(f"  | {text}")
    if vm.ssh_ready_seconds is not None:
        line(f"{'SSH ready:':<13} {vm.ssh_ready_seconds:.1f} s after boot")


def show_vms(vms: Sequence["VmInfo"], json_out: bool) -> None:
    if json_out:
        emit_json([vm.to_dict() for vm in vms])
        return
    table(["NAME", "STATE", "CPUS", "MEMORY", "ACCEL", "IMAGE", "HOST", "ADDRESSES", "SSH"],
          [(v.name, v.state, v.vcpus, f"{v.memory_mib}M", v.accel, v.image or "-", v.host or "-",
            ",".join(v.addresses) or "-", v.ssh_endpoint or "-") for v in vms])


def show_fleet(listings: Sequence["HostListing"], json_out: bool, *, names_only: bool = False) -> None:
    """``list --all-hosts``: one table (the inventory's host name first), then a line on
    stderr for each host that did not answer (--json: each host's ``error``)."""
    answered = [listing for listing in listings if listing.error is None]
    if json_out:
        emit_json({"hosts": [listing.to_dict() for listing in listings]})
    elif names_only:  # (-q: what the command exists to print, so never silenced)
        write_bytes("".join(f"{x.host}/{vm.name}\n" for x in answered for vm in x.vms).encode())
    else:
        table(["HOST", "NAME", "STATE", "CPUS", "MEMORY", "IMAGE", "ADDRESSES", "SSH"],
              [(listing.host, v.name, v.state, v.vcpus, f"{v.memory_mib}M", v.image or "-",
                ",".join(v.addresses) or "-", v.ssh_endpoint or "-") for listing in answered for v in listing.vms])
        for listing in listings:
            if listing.error is not None:
                note(f"host {listing.host}: unreachable: {listing.error}")
