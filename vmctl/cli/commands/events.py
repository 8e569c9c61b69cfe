"""`vmctl events`: libvirt lifecycle events as they happen."""

from __future__ import annotations

import json

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import line
from vmctl.cli.state import api, state

app = typer.Typer()


@app.command("events")
def events(name: str = typer.Argument(None, help="Only this VM's events (it need not exist yet).",
                                      autocompletion=complete_vm),
           timeout: float = typer.Option(None, "--timeout", min=0.1, help="Stop after this many seconds."),
           count: int = typer.Option(None, "--count", min=1, help="Stop after this many events."),
           json_out: bool = opt.JSON) -> None:
    """Stream libvirt's lifecycle events (started, stopped, suspended, ...) of the host's
    domains, one line each (--json: one JSON object per line), until --timeout,
    --count or Ctrl-C."""
    state().json_lines = json_out

    def show(event) -> None:
        line(json.dumps(event.to_dict(), separators=(",", ":")) if json_out else event.line())

    api().events(show, name=name, timeout=timeout, count=count)
