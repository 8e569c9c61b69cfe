"""`vmctl backup NAME DEST` and `vmctl restore DEST [--name NEW]`."""

from __future__ import annotations

from pathlib import Path

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.api import format_summary
from vmctl.cli.output import emit_json, json_line, line, note
from vmctl.cli.progress import ProgressView
from vmctl.cli.state import api
from vmctl.cli.views import show_vm
from vmctl.errors import InvalidInput

app = typer.Typer()


@app.command("backup")
def backup(name: str = typer.Argument(None, metavar="NAME", help="VM name (with --stack: leave out).",
                                      autocompletion=complete_vm),
           dest: Path = typer.Argument(None, metavar="DEST", help="A new directory for the backup (with --stack: "
                                       "a directory for one new VMNAME directory per VM)."),
           stack: str = typer.Option(None, "--stack", help="Every VM of this stack (`vmctl up`): "
                                     "`vmctl backup --stack NAME DIR` writes DIR/VMNAME for each."),
           parallel: int = typer.Option(2, "--parallel", "-p", min=1, max=32, help="With --stack: backups at once."),
           json_out: bool = opt.JSON) -> int:
    """Write a self-contained copy of a VM (disks flattened, definition, metadata, a
    manifest with checksums); a running VM keeps running. Refused for a VM that has not
    finished its first boot (its seed still holds its private host key). With --stack,
    one backup per VM, a line each and a table; exit non-zero if any failed (the others
    are still backed up)."""
    if stack:
        if name is None or dest is not None:
            raise InvalidInput("with --stack, give only the directory", hint="vmctl backup --stack web ./backups")
        result = api().stack_backup(stack, Path(name), parallel=parallel, write=note)
        if json_out:
            emit_json(result.to_dict())
        else:
            for text in format_summary(result.summary):
                note(text)
        return result.summary.exit_status
    if name is None or dest is None:
        raise InvalidInput("give the VM and a new directory", hint="vmctl backup web1 ./web1.bak")
    with ProgressView(json_out) as progress:
        result = api().backup(name, dest, progress=progress)
    if json_out:
        json_line(result.to_dict())
    else:
        size = sum(result.files.values())
        line(f"backed up {name} to {result.path}: {len(result.files)} files, {size >> 20} MiB "
             f"in {result.seconds:.1f} s{' (while running)' if result.running else ''}")
    return 0


@app.command("restore")
def restore(src: Path = typer.Argument(..., help="A directory vmctl backup made."),
            name: str = typer.Option(None, "--name", help="Name of the new VM (default: the backed-up one's)."),
            json_out: bool = opt.JSON) -> None:
    """Bring a backup back as a new VM (new UUID, MACs, SSH port). The backup is untrusted
    input: refused, with nothing made, if its manifest names anything but the files vmctl
    backup writes, a file is a symlink or does not match the manifest, or its definition
    would hand the VM part of this host (extra host disks, QEMU arguments, shared
    directories, host devices or files)."""
    with ProgressView(json_out) as progress:
        vm = api().restore(src, name=name, progress=progress)
    show_vm(vm, json_out, lines=True)
