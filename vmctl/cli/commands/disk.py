"""`vmctl disk ls|add|rm|resize`: extra disks of a VM."""

from __future__ import annotations

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import emit_json, line, table
from vmctl.cli.state import api

app = typer.Typer(help="Disks of a VM: list, add, remove, grow.", no_args_is_help=True)
VM = typer.Argument(..., help="VM name.", autocompletion=complete_vm)


def _show(change, json_out: bool, text: str) -> None:
    if json_out:
        emit_json(change.to_dict())
    else:
        line(text + (f" ({change.note})" if change.note else ""))


@app.command("ls")
def ls(name: str = VM, json_out: bool = opt.JSON) -> None:
    """List the VM's disks and CD-ROMs."""
    from vmctl.api import format_size

    disks = api().disk_list(name)
    if json_out:
        emit_json([d.__dict__ for d in disks])
        return
    table(["TARGET", "DEVICE", "SIZE", "BASE", "PATH"],
          [(d.target, d.device, format_size(d.size) if d.size else "-", d.base_image or "-", d.path) for d in disks])


@app.command("add")
def add(name: str = VM, size: str = typer.Argument(..., help="Size, e.g. 4G (bare number: MiB)."),
        target: str = typer.Option(None, "--target", help="vdb, vdc, ... (default: the next free one)."),
        json_out: bool = opt.JSON) -> None:
    """Add an empty disk (a new volume), live if the VM runs; it goes with the VM."""
    change = api().disk_add(name, size, target=target)
    _show(change, json_out, f"{name}: {change.target} added ({change.path}){', live' if change.live else ''}")


@app.command("rm")
def rm(name: str = VM, target: str = typer.Argument(..., help="The disk's target, e.g. vdb."),
       keep: bool = typer.Option(False, "--keep", help="Keep the volume (only detach it)."),
       json_out: bool = opt.JSON) -> None:
    """Detach a disk (live if the VM runs) and delete its volume if it is the VM's own."""
    change = api().disk_remove(name, target, keep=keep)
    _show(change, json_out, f"{name}: {target} removed")


@app.command("resize")
def resize(name: str = VM, target: str = typer.Argument(..., help="The disk's target, e.g. vda."),
           size: str = typer.Argument(..., help="The new, larger size, e.g. 8G."),
           json_out: bool = opt.JSON) -> None:
    """Grow a disk (live if the VM runs, then its file system where the guest can)."""
    change = api().disk_resize(name, target, size)
    _show(change, json_out, f"{name}: {target} is now {change.size} bytes{', live' if change.live else ''}")
