"""`vmctl snapshot ...`: take, list, inspect, revert, delete; group snapshots; rollback runs."""

from __future__ import annotations

import time

import click
import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_snapshot, complete_vm
from vmctl.cli.guestargs import GuestCommand, guest_argv
from vmctl.cli.output import emit_json, json_line, line, note, table, write_bytes
from vmctl.cli.state import api, state
from vmctl.errors import InvalidInput

app = typer.Typer(help="Snapshots: take, list, revert, delete; group snapshots; rollback runs.",
                  no_args_is_help=True)
VM = typer.Argument(..., help="VM name.", autocompletion=complete_vm)
GROUP = typer.Option(None, "--group", help="A group label: several VMs at one instant.")


def _stage_lines(json_out: bool):
    """With --json: each stage as a JSON line when reached (NDJSON; the result is the last line)."""
    if not json_out:
        return None
    state().json_lines = True
    return lambda stage, seconds: json_line({"event": "stage", "stage": stage, "seconds": round(seconds, 3)})


def _show(snap, json_out: bool) -> None:
    if json_out:
        emit_json(snap.to_dict())
        return
    for key, value in [("VM", snap.vm), ("Snapshot", snap.name), ("Parent", snap.parent or "-"),
                       ("Created", snap.created), ("State then", snap.state),
                       ("Memory", "saved" if snap.memory else "not saved"),
                       ("Consistency", snap.consistency or "- (incomplete)"), ("Kind", snap.kind),
                       ("Group", snap.group or "-"), ("Size", snap.size if snap.size is not None else "-"),
                       ("Description", snap.description or "-")]:
        line(f"{key + ':':<13} {value}")


@app.command("create")
def create(names: list[str] = typer.Argument(None, metavar="NAME [SNAP] | --group LABEL NAME... | --stack STACK",
                                             autocompletion=complete_vm),
           description: str = typer.Option("", "--description", "-d", help="Free text kept with the snapshot."),
           quiesce: bool = typer.Option(False, "--quiesce", help="Freeze the guest's filesystems (guest agent; "
                                        "with --disk-only)."),
           disk_only: bool = typer.Option(False, "--disk-only", help="External disk-only snapshot (libvirt 9.0 "
                                          "cannot revert these)."),
           group: str = GROUP,
           stack: str = typer.Option(None, "--stack", help="Every VM of this stack (`vmctl up`), as one group "
                                     "(--group, default STACK-<UTC time>)."),
           json_out: bool = opt.JSON) -> None:
    """Take a snapshot: with memory of a running VM, of the disk of a shut-off one.

    With --group LABEL, of every VM named, at one instant (paused together), all or nothing;
    with --stack STACK, of every VM of the stack, the same way."""
    if stack:
        if names:
            raise InvalidInput("--stack names the VMs: give no NAME", hint="vmctl snapshot create --stack shop")
        names = api().stack_members(stack, on_note=note)
        group = group or f"{stack}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    if group:
        taken = api().snapshot_group_create(group, names, description=description)
        if json_out:
            emit_json([s.to_dict() for s in taken])
        else:
            line(f"group {group}: " + ", ".join(f"{s.vm}/{s.name}" for s in taken))
        return
    if not names or len(names) > 2:
        raise InvalidInput("expected NAME [SNAP]", hint="several VMs at once: --group LABEL NAME1 NAME2 ...")
    snap = api().snapshot_create(names[0], names[1] if len(names) > 1 else None, description=description,
                                 quiesce=quiesce, disk_only=disk_only, on_stage=_stage_lines(json_out))
    if json_out:
        json_line(snap.to_dict())
    else:
        saved = "disks and memory" if snap.memory else "disks"
        line(f"took snapshot {snap.name} of {snap.vm}: {saved} (consistency: {snap.consistency})")


@app.command("list")
def list_(name: str = typer.Argument(None, help="VM name.", autocompletion=complete_vm), group: str = GROUP,
          tree: bool = typer.Option(False, "--tree", help="Show parents and children."),
          json_out: bool = opt.JSON) -> None:
    """List a VM's snapshots (or a group's)."""
    if not name and not group:
        raise InvalidInput("give NAME or --group LABEL", hint="vmctl snapshot list web1")
    snaps = api().snapshot_group_list(group) if group else api().snapshot_list(name)
    if json_out:
        emit_json([s.to_dict() for s in snaps])
        return
    if tree:
        children: dict[str | None, list] = {}
        for s in snaps:
            children.setdefault(s.parent, []).append(s)

        def walk(parent: str | None, depth: int) -> None:
            for s in children.get(parent, []):
                line(f"{'  ' * depth}{'+- ' if depth else ''}{s.name}{' (current)' if s.current else ''}")
                walk(s.name, depth + 1)
        walk(None, 0)
        return
    table(["VM", "NAME", "CREATED", "STATE", "MEMORY", "CONSISTENCY", "GROUP", "DESCRIPTION"],
          [(s.vm, s.name + (" *" if s.current else ""), s.created, s.state, "yes" if s.memory else "no",
            s.consistency or "incomplete", s.group or "-", s.description or "-") for s in snaps])


@app.command("info")
def info(name: str = VM, snap: str = typer.Argument(..., autocompletion=complete_snapshot), json_out: bool = opt.JSON) -> None:
    """Show one snapshot."""
    _show(api().snapshot_info(name, snap), json_out)


@app.command("revert")
def revert(name: str = typer.Argument(None, help="VM name.", autocompletion=complete_vm),
           snap: str = typer.Argument(None, autocompletion=complete_snapshot), group: str = GROUP,
           running: bool = typer.Option(False, "--running", help="Leave the VM running."),
           paused: bool = typer.Option(False, "--paused", help="Leave the VM paused."),
           wait: str = typer.Option("none", "--wait", click_type=click.Choice(["none", "ssh"]),
                                    help="none: return at once; ssh: until SSH answers (a reverted VM is "
                                         "booted already: there is no boot to wait for)."),
           timeout: float = opt.TIMEOUT, json_out: bool = opt.JSON) -> None:
    """Revert to a snapshot: the VM in the requested state, its clock set to the host's."""
    if running and paused:
        raise InvalidInput("--running and --paused exclude each other", hint="give one of them")
    if group:
        members = api().snapshot_group_revert(group)
        if json_out:
            emit_json({"group": group, "reverted": members})
        else:
            line(f"group {group}: reverted " + ", ".join(f"{vm}/{s}" for vm, s in sorted(members.items())))
        return
    if not name or not snap:
        raise InvalidInput("expected NAME SNAP (or --group LABEL)", hint="vmctl snapshot revert web1 before-upgrade")
    result = api().snapshot_revert(name, snap, state="running" if running else "paused" if paused else "",
                                   wait_ssh=wait == "ssh", timeout=timeout, on_stage=_stage_lines(json_out))
    if json_out:
        json_line(result.__dict__)
    else:
        clock = f", clock set ({result.clock})" if result.clock else ""
        line(f"reverted {name} to {snap} in {result.seconds:.1f} s: {result.state}{clock}")


@app.command("delete")
def delete(name: str = VM, snap: str = typer.Argument(..., autocompletion=complete_snapshot),
           children: bool = typer.Option(False, "--children", help="Delete its descendants too."),
           json_out: bool = opt.JSON) -> None:
    """Delete a snapshot (refused while it has children, unless --children)."""
    gone = api().snapshot_delete(name, snap, children=children)
    if json_out:
        emit_json({"vm": name, "deleted": gone})
    else:
        line(f"deleted {', '.join(gone)} of {name}")


@app.command("run", cls=GuestCommand)
def run(ctx: typer.Context, name: str = VM,
        in_guest: bool = typer.Option(False, "--in-guest", help="Run the command in the guest (over SSH)."),
        keep: bool = typer.Option(False, "--keep", help="Keep the temporary snapshot."),
        json_out: bool = opt.JSON) -> int:
    """Take a snapshot, run a command, revert if it fails (or on Ctrl-C/SIGTERM); exit
    with the command's status. The temporary snapshot goes either way unless --keep.

    Options go anywhere before `--`; the command is everything after it (literally),
    or without `--` everything from the first word after NAME that is not an option."""
    argv = guest_argv(ctx)
    if not argv:
        raise InvalidInput("no command given", hint="vmctl snapshot run NAME -- CMD [ARGS...]")
    result = api().snapshot_run(name, argv, in_guest=in_guest, keep=keep, say=note,
                                out=lambda d: write_bytes(d), err=lambda d: write_bytes(d, stream="stderr"))
    if json_out:
        emit_json(result.__dict__)
    return result.exit_status if result.exit_status is not None else 1
