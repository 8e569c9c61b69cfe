"""VM commands: create, list, info, start, stop, reboot, destroy, delete, console."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import emit_json, line, table
from vmctl.cli.state import api
from vmctl.errors import InvalidInput
from vmctl.api import format_size

if TYPE_CHECKING:
    from vmctl.api import VmInfo

app = typer.Typer()
WAIT = typer.Option("none", "--wait", help="none; boot: the boot marker on the console; ssh: SSH answers too.")
VM = typer.Argument(..., help="VM name.", autocompletion=complete_vm)


def _wait_boot(wait: str, allowed: tuple[str, ...] = ("none", "boot")) -> bool:
    if wait not in allowed:
        raise InvalidInput(f"invalid --wait {wait!r}", hint="use --wait " + ", --wait ".join(allowed))
    return wait != "none"


def _show(vm: "VmInfo", json_out: bool, quiet: bool = False) -> None:
    if json_out:
        emit_json(vm.to_dict())
        return
    if quiet:
        return
    for key, value in [("Name", vm.name), ("UUID", vm.uuid), ("State", vm.state), ("vCPUs", vm.vcpus),
                       ("Memory", f"{vm.memory_mib} MiB"), ("Accelerator", f"{vm.accel} ({vm.accel_reason})"),
                       ("Image", vm.image or "-"), ("Template", vm.template or "-"),
                       ("SSH", f"{vm.ssh_user}@127.0.0.1:{vm.ssh_port}" if vm.ssh_port else "-"),
                       ("Host key", vm.ssh_host_key_fingerprint or "- (not pinned)")]:
        line(f"{key + ':':<13} {value}")
    for disk in vm.disks:
        size = format_size(disk.size) if disk.size else "?"
        base = f", base {disk.base_image}" if disk.base_image else ""
        line(f"{'Disk ' + disk.target + ':':<13} {disk.path} ({disk.device}, {size}{base})")
    if vm.boot_seconds is not None:
        line(f"{'Booted in:':<13} {vm.boot_seconds:.1f} s; console:")
        for text in vm.console_tail:
            line(f"  | {text}")
    if vm.ssh_ready_seconds is not None:
        line(f"{'SSH ready:':<13} {vm.ssh_ready_seconds:.1f} s after boot")


@app.command("create")
def create(
    name: str = typer.Argument(..., help="VM name: lowercase letters, digits, '.', '_', '-'."),
    template: str = opt.TEMPLATE, image: str = opt.IMAGE, cpus: int = opt.CPUS, memory: str = opt.MEMORY,
    disk: str = opt.DISK, accel: str = opt.ACCEL, nested: bool = opt.NESTED, user: str = opt.USER,
    no_start: bool = typer.Option(False, "--no-start", help="Define the VM but do not start it."),
    wait: str = WAIT, timeout: float = opt.TIMEOUT,
    ssh_key: Path = typer.Option(None, "--ssh-key", help="Private key to log in with (default: vmctl's own)."),
    user_data: Path = typer.Option(None, "--user-data", help="Your cloud-config, merged with vmctl's keys."),
    provision: Path = typer.Option(None, "--provision", help="Provisioning YAML to run once SSH answers."),
    network: str = typer.Option(None, "--network", help="Attach to this libvirt network (SSH via its DHCP "
                                "lease) instead of a user-mode NIC with a 127.0.0.1 port forward."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not check the guest's SSH host key (unsafe)."),
    json_out: bool = opt.JSON,
) -> None:
    """Create a VM from an image (a linked qcow2 clone) and start it."""
    wants = _wait_boot(wait, ("none", "boot", "ssh"))
    if provision is not None:
        wants, wait = True, "ssh"
    vm = api().create(name, template=template, image=image, cpus=cpus, memory=memory, disk=disk, accel=accel,
                      nested=nested, user=user, start=not no_start, wait_boot=wants, wait_ssh=wait == "ssh",
                      timeout=timeout, ssh_key=ssh_key, user_data=user_data, insecure=insecure,
                      network=network)
    if provision is not None:
        result = api().provision(name, provision, insecure=insecure)
        if not json_out:
            line(f"provisioned: {len(result.ran)} step(s) ran")
    _show(vm, json_out)


@app.command("list")
def list_(json_out: bool = opt.JSON) -> None:
    """List VMs."""
    vms = api().list()
    if json_out:
        emit_json([vm.to_dict() for vm in vms])
        return
    table(["NAME", "STATE", "CPUS", "MEMORY", "ACCEL", "IMAGE", "SSH"],
          [(v.name, v.state, v.vcpus, f"{v.memory_mib}M", v.accel, v.image or "-",
            f"127.0.0.1:{v.ssh_port}" if v.ssh_port else "-") for v in vms])


@app.command("info")
def info(name: str = VM, json_out: bool = opt.JSON) -> None:
    """Show a VM's state, resources, disks and how to reach it."""
    _show(api().info(name), json_out)


@app.command("start")
def start(name: str = VM, wait: str = WAIT, timeout: float = opt.TIMEOUT,
          json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Start a VM."""
    _show(api().start(name, wait_boot=_wait_boot(wait), timeout=timeout), json_out, quiet)


@app.command("stop")
def stop(name: str = VM,
         force: bool = typer.Option(False, "--force", help="Power off at once instead of a guest shutdown."),
         timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for the guest."),
         json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Shut a VM down (ACPI), waiting up to --timeout; --force powers it off."""
    _show(api().stop(name, force=force, timeout=timeout), json_out, quiet)


@app.command("reboot")
def reboot(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Ask the guest to reboot."""
    _show(api().reboot(name), json_out, quiet)


@app.command("destroy")
def destroy(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Power a VM off at once (like pulling the plug); it stays defined."""
    _show(api().destroy(name), json_out, quiet)


@app.command("delete")
def delete(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Power off and remove a VM and its own volumes (never base images)."""
    removed = api().delete(name)
    if json_out:
        emit_json({"deleted": name, "volumes": removed})
    elif not quiet:
        line(f"deleted {name}" + (f" and {len(removed)} volume(s)" if removed else ""))


@app.command("console")
def console(name: str = VM) -> None:
    """Attach to the serial console (Ctrl-] leaves)."""
    from vmctl.cli.console import bridge_console

    bridge_console(api().console(name))
