"""`vmctl up`, `vmctl down`, `vmctl ps`: a stack file's VMs on this host (docs/stacks.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from vmctl.api import load_stack
from vmctl.cli import options as opt
from vmctl.cli.output import emit_json, json_line, line, note
from vmctl.cli.state import api, state
from vmctl.cli.views import show_vms
from vmctl.errors import InvalidInput

app = typer.Typer()
FILE = typer.Option(Path("stack.yaml"), "--file", "-f", help="The stack file (or a directory holding stack.yaml).")
NAME = typer.Option(None, "--name", help="The stack's name (default: from the file).")

WORDS = {"network": "network", "create": "create", "keep": "keep (matches)", "differs": "leave (differs)", "orphan": "leave (not in the file)"}


@app.command("up")
def up(file: Path = FILE, dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; change nothing."),
       parallel: int = typer.Option(4, "--parallel", min=1, max=16, help="VMs of one layer made at once."),
       insecure: bool = typer.Option(False, "--insecure", help="Do not check the guests' SSH host keys."),
       json_out: bool = opt.JSON) -> None:
    """Bring this host in line with a stack file: create what is missing in dependency
    order (a layer's VMs in parallel), provision and wait until ready; keep what matches;
    say what differs. A re-run after a failure or a kill continues where it stopped."""
    stack = load_stack(file)
    if json_out:
        state().json_lines = True

    def event(data: dict[str, object]) -> None:
        if json_out:
            json_line(data)
        elif data["event"] == "plan":
            detail = f": {data['detail']}" if data["detail"] else ""
            where = f" on {data['host']}" if data.get("host") else ""
            note(f"plan  {data['vm']:<20} {WORDS.get(str(data['action']), data['action'])}{where}{detail}")
        else:
            where = f" on {data['host']}" if data.get("host") else ""
            note(f"{data['event']:<9} {data['vm']}{where}" + (f": {data['message']}" if data.get("message") else ""))
    result = api().stack_up(stack, base=Path(file).absolute().parent if not Path(file).is_dir() else
                            Path(file).absolute(), dry_run=dry_run, parallel=parallel, insecure=insecure,
                            on_event=event)
    if json_out:
        json_line({"result": result.to_dict()})
    elif dry_run:
        line(f"stack {stack.name}: dry run, nothing was changed")
    else:
        made = sum(1 for v in result.done.values() if v == "created")
        line(f"stack {stack.name}: {made} created, {len(result.done) - made} kept")


@app.command("down")
def down(file: Path = FILE, name: str = NAME,
         keep_disks: bool = typer.Option(False, "--keep-disks", help="Keep the VMs' disk volumes in the pool "
                                         "(their seeds and other CD-ROMs go)."),
         json_out: bool = opt.JSON) -> None:
    """Remove the stack's VMs (only VMs carrying its label) and their own volumes, or with
    --keep-disks all but their disks (listed as kept), then the stack's networks, from this
    host and every host of the inventory."""
    stack_name = name or load_stack(file).name
    result = api().stack_down(stack_name, keep_disks=keep_disks, on_note=note)
    if json_out:
        emit_json(result.to_dict())
        return
    removed = result.removed
    line(f"stack {stack_name}: removed {', '.join(removed) if removed else 'nothing (no VM of it here)'}")
    for vm, volumes in sorted(result.kept.items()):
        line(f"kept {vm}: {', '.join(volumes)}")


@app.command("ps")
def ps(file: Path = FILE, name: str = NAME, json_out: bool = opt.JSON) -> None:
    """The stack's VMs on this host and the inventory's hosts: state, host, addresses, SSH."""
    if name is None and not Path(file).exists():
        raise InvalidInput(f"no stack file {file}", hint="give -f FILE or --name STACK")
    show_vms(api().stack_ps(name or load_stack(file).name, on_note=note), json_out)
