"""`vmctl repair [NAME]`: finish or undo operations that were killed."""

from __future__ import annotations

import typer

from vmctl.cli import options as opt
from vmctl.cli.output import emit_json, line, table
from vmctl.cli.state import api

app = typer.Typer()


@app.command("repair")
def repair(name: str = typer.Argument(None, help="Only this VM (or image:NAME); default: everything."),
           dry_run: bool = typer.Option(False, "--dry-run", help="Only show what would be done."),
           peer: str = typer.Option(None, "--peer", metavar="URI",
                                    help="The other host of a killed migration (else only a known host's URI is "
                                         "used, never one read from the record alone)."),
           json_out: bool = opt.JSON) -> None:
    """Finish or undo operations whose vmctl process died (SIGKILL, power loss), from
    their intent records: a half-made VM is removed, a half-done delete is finished,
    a killed migration is settled on one host (reaching its other host at --peer or
    a known host's URI only).
    Operations still running are listed and left alone. Unused builds of tiny go too."""
    report = api().repair(name, dry_run=dry_run, peer=peer)
    if json_out:
        emit_json({"dry_run": dry_run, **report.to_dict()})
    elif not report.findings and not report.images_removed:
        line("nothing to repair")
    else:
        if report.findings:
            table(["NAME", "OPERATION", "OWNER", "SINCE", "STATE", "ACTION", "ITEMS"],
                  [(f.target, f.op or "-", f.owner or "-", f.since or "-", f.state,
                    ("would " if dry_run and f.action not in ("none",) else "") + f.action,
                    ", ".join(f.items) or "-") for f in report.findings])
        for image in report.images_removed:
            line(f"{'would remove' if dry_run else 'removed'} unused image {image}")
    if report.refusal is not None:  # the rest was repaired; this one waits, and the exit status says so
        raise report.refusal
