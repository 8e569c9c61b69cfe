"""VM commands: create, list, info, start, stop, reboot, destroy, delete, console."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from vmctl.api import parse_labels
from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import emit_json, json_line, line, note, write_bytes
from vmctl.cli.progress import ProgressView
from vmctl.cli.state import api, remember_quiet
from vmctl.cli.views import show_fleet, show_vm, show_vms
from vmctl.errors import InvalidInput
from vmctl.progress import timed_stages

app = typer.Typer()
VM = typer.Argument(..., help="VM name.", autocompletion=complete_vm)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="VM name: lowercase letters, digits, '.', '_', '-'."),
    template: str = opt.TEMPLATE, image: str = opt.IMAGE, cpus: int | None = opt.CPUS, memory: str | None = opt.MEMORY,
    disk: str = opt.DISK, accel: str = opt.ACCEL, nested: bool = opt.NESTED, user: str = opt.USER,
    no_start: bool = typer.Option(False, "--no-start", help="Define the VM but do not start it."),
    wait: str = opt.WAIT, timeout: float = opt.TIMEOUT,
    ssh_key: Path = typer.Option(None, "--ssh-key", help="Private key to log in with (default: vmctl's own)."),
    user_data: Path = typer.Option(None, "--user-data", help="Your cloud-config, merged with vmctl's keys."),
    provision: Path = typer.Option(None, "--provision", help="Provisioning YAML to run once SSH answers."),
    network: str = typer.Option(None, "--network", help="Attach to this libvirt network (SSH via its DHCP "
                                "lease) instead of a user-mode NIC with a 127.0.0.1 port forward."),
    insecure: bool = typer.Option(False, "--insecure", help="Do not check the guest's SSH host key (unsafe)."),
    internet: bool = opt.INTERNET, drop_unusable: bool = opt.DROP,
    label: list[str] = typer.Option(None, "--label", metavar="KEY=VALUE", help="Put this label on the VM "
                                    "(repeat for more; added to those in $VMCTL_LABELS)."),
    host: str = typer.Option(None, "-H", "--host", metavar="NAME|auto", help="A host of the inventory (as -H "
                             "before the command), or auto: the one placement chooses (docs/fleet.md)."),
    place: str = typer.Option("spread", "--place", metavar="WEIGHER", help="With --host auto: spread (default: "
                              "the most memory left free) or pack (the least)."),
    place_label: list[str] = typer.Option(None, "--place-label", metavar="KEY=VALUE", help="With --host auto: "
                                          "only hosts with this inventory label (repeat for more)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --host auto: print the chosen host and every "
                                 "host's reason, and make nothing."),
    json_out: bool = opt.JSON,
) -> None:
    """Create a VM from an image (a linked qcow2 clone) and start it."""
    labels = {**create_labels_from_environment(), **parse_labels(label or [])}
    if _target(host, place, place_label, dry_run, memory=memory, disk=disk, cpus=cpus, json_out=json_out):
        return
    wants = wait != "none"
    if provision is not None:
        api().check_plan(provision)  # a bad plan is refused before anything is made
        wants, wait = True, "ssh"
    with ProgressView(json_out) as progress:
        vm = api().create(name, template=template, image=image, cpus=cpus, memory=memory, disk=disk, accel=accel,
                          nested=nested, user=user, start=not no_start, wait_boot=wants, wait_ssh=wait == "ssh",
                          timeout=timeout, ssh_key=ssh_key, user_data=user_data, insecure=insecure,
                          network=network, internet=internet, drop_unusable=drop_unusable, labels=labels,
                          progress=progress)
    if provision is not None:
        result = api().provision(name, provision, insecure=insecure)
        if not json_out:
            line(f"provisioned: {len(result.ran)} step(s) ran")
    show_vm(vm, json_out, lines=True)


def _target(host: str | None, place: str, place_label: list[str] | None, dry_run: bool, *, memory: str | None,
            disk: str | None, cpus: int | None, json_out: bool) -> bool:
    """create's --host: a host name works as -H does; ``auto`` asks placement and says where
    and why. True when the command is done (--dry-run)."""
    from vmctl.cli.state import state

    if host != "auto":
        if dry_run or place_label:
            raise InvalidInput("--dry-run and --place-label go with --host auto", hint="add --host auto")
        if host:
            state().host = host
            state().check_target()
        return False
    if state().uri or state().host:
        raise InvalidInput("--host auto chooses the host itself", hint="drop -c URI / -H NAME, or --host auto")
    from vmctl.api.placement import place_new_vm

    placement = place_new_vm(memory=memory, disk=disk, cpus=cpus, labels=parse_labels(place_label or []),
                             weigher=place)
    if json_out:
        (emit_json if dry_run else json_line)({"event": "placed", "dry_run": dry_run, **placement.to_dict()})
    else:
        line(f"placed on {placement.host}: {placement.reason}")
        for verdict in placement.verdicts if dry_run else ():
            line(f"  {verdict.host}: {verdict.reason}")
        if dry_run:
            line("dry run: nothing was made")
    state().host = placement.host
    return dry_run


def create_labels_from_environment() -> dict[str, str]:
    """``VMCTL_LABELS="KEY=VALUE KEY=VALUE"``: labels every `vmctl create` of this
    environment puts on its VM, so a CI job or a test harness marks all it makes, also
    through scripts it does not write. Read here only: the Python API takes labels as
    arguments (``Vmctl(labels=...)``), never from the environment."""
    text = os.environ.get("VMCTL_LABELS", "")
    try:
        return parse_labels(text.split())
    except InvalidInput as exc:
        raise InvalidInput(f"VMCTL_LABELS: {exc.message}", hint=exc.hint) from None


@app.command("list")
def list_(label: list[str] = opt.LABEL_FILTER, json_out: bool = opt.JSON,
          quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the names, one per line.",
                                     callback=remember_quiet),
          all_hosts: bool = typer.Option(False, "--all-hosts", help="Every host of the inventory (`vmctl host "
                                         "ls`), asked in parallel; a line for each host that does not answer.")) -> None:
    """List VMs (with --label: only those carrying every label given)."""
    if all_hosts:
        from vmctl.api.hosts import list_all_hosts

        show_fleet(list_all_hosts(labels=parse_labels(label or [])), json_out, names_only=quiet)
        return
    vms = api().list(labels=parse_labels(label or []))
    if quiet and not json_out:
        write_bytes("".join(vm.name + "\n" for vm in vms).encode())
        return
    show_vms(vms, json_out)


@app.command("info")
def info(name: str = VM, json_out: bool = opt.JSON) -> None:
    """Show a VM's state, resources, disks and how to reach it."""
    show_vm(api().info(name), json_out)


@app.command("start")
def start(name: str = VM, wait: str = opt.WAIT, timeout: float = opt.TIMEOUT,
          json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Start a VM (with --wait: until it booted, or SSH answers)."""
    with ProgressView(json_out) as progress:
        vm = api().start(name, wait_boot=wait != "none", timeout=timeout, progress=progress)
        if wait == "ssh":
            api().wait(name, until="ssh", timeout=timeout, on_stage=timed_stages(progress))
            vm = api().info(name)
    show_vm(vm, json_out, quiet, lines=True)


@app.command("stop")
def stop(name: str = VM,
         force: bool = typer.Option(False, "--force", help="Power off at once instead of a guest shutdown."),
         timeout: float = typer.Option(60.0, "--timeout", min=1, help="Seconds to wait for the guest."),
         json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Shut a VM down (ACPI), waiting up to --timeout; --force powers it off."""
    show_vm(api().stop(name, force=force, timeout=timeout), json_out, quiet)


@app.command("reboot")
def reboot(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Ask the guest to reboot."""
    show_vm(api().reboot(name), json_out, quiet)


@app.command("destroy")
def destroy(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Power a VM off at once (like pulling the plug); it stays defined."""
    show_vm(api().destroy(name), json_out, quiet)


@app.command("clone")
def clone(src: str = typer.Argument(..., help="The VM to copy.", autocompletion=complete_vm),
          new: str = typer.Argument(..., help="The new VM's name."),
          full: bool = typer.Option(False, "--full", help="A standalone disk instead of one linked to the "
                                    "source's base image."),
          json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Copy a VM (also while it runs) into a new one with a new identity (not started)."""
    result = api().clone(src, new, full=full)
    if json_out:
        emit_json(result.to_dict())
        return
    if not quiet:
        kind = "full" if full else "linked to the base image"
        line(f"cloned {src} into {new} ({kind}{', from the running guest' if result.from_running else ''}); "
             f"start it with `vmctl start {new} --wait boot`")


@app.command("set")
def set_(name: str = VM, cpus: int | None = typer.Option(None, "--cpus", min=1, max=256, help="Virtual CPUs."),
         memory: str | None = typer.Option(None, "--memory", "-m", help="Memory, e.g. 1G (bare number: MiB)."),
         json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Change a VM's vCPUs or memory: from its next start, and live where the guest allows."""
    result = api().set(name, cpus=cpus, memory=memory)
    if json_out:
        emit_json(result.to_dict())
        return
    if quiet:
        return
    for change in result.changes:
        shown = f"{change.value} MiB" if change.setting == "memory_mib" else f"{change.value} vCPUs"
        when = "now (live) and from the next start" if change.live else (change.note or "from the next start")
        line(f"{name}: {shown} {when}")


@app.command("pause")
def pause(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Pause a running VM (its vCPUs stop; memory and connections stay)."""
    show_vm(api().pause(name), json_out, quiet)


@app.command("resume")
def resume(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Resume a paused VM."""
    show_vm(api().resume(name), json_out, quiet)


@app.command("autostart")
def autostart(name: str = VM, setting: str = typer.Argument(..., metavar="on|off", help="on or off.",
                                                          autocompletion=lambda: ["on", "off"]),
              json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Start the VM when the host's libvirtd starts (on), or not (off)."""
    if setting not in ("on", "off"):
        raise InvalidInput(f"invalid setting {setting!r}", hint="vmctl autostart NAME on|off")
    show_vm(api().autostart(name, setting == "on"), json_out, quiet)


@app.command("delete")
def delete(name: str = VM, json_out: bool = opt.JSON, quiet: bool = opt.QUIET) -> None:
    """Power off and remove a VM and its own volumes (never base images)."""
    notes: list[str] = []
    removed = api().delete(name, on_note=notes.append)
    for text in notes if not json_out else []:
        note(f"{name}: {text}")
    if json_out:
        emit_json({"deleted": name, "volumes": removed, **({"notes": notes} if notes else {})})
    elif not quiet:
        line(f"deleted {name}" + (f" and {len(removed)} volume(s)" if removed else ""))


@app.command("console")
def console(name: str = VM) -> None:
    """Attach to the serial console (Ctrl-] leaves)."""
    from vmctl.cli.console import bridge_console

    bridge_console(api().console(name))
