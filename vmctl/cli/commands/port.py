"""`vmctl port ls|add|rm`: port forwards of a VM's user-mode NIC."""

from __future__ import annotations

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import emit_json, line, table
from vmctl.cli.state import api

app = typer.Typer(help="Port forwards of a VM: list, add, remove.", no_args_is_help=True)
VM = typer.Argument(..., help="VM name.", autocompletion=complete_vm)


def _show(change, json_out: bool) -> None:
    if json_out:
        emit_json(change.to_dict())
        return
    when = "now and from each start" if change.live else "from its next start"
    line(f"{change.action} {change.forward} for {change.vm} ({when})")


@app.command("ls")
def ls(name: str = VM, json_out: bool = opt.JSON) -> None:
    """List the VM's forwards (its SSH forward among them)."""
    found = api().port_list(name)
    if json_out:
        emit_json([f.to_dict() for f in found])
        return
    table(["HOST", "GUEST", "PROTO", "WHAT"],
          [(f"{f.forward.host_addr}:{f.forward.host_port}", f.forward.guest_port, f.forward.proto,
            "ssh (vmctl's)" if f.ssh else "-") for f in found])


@app.command("add")
def add(name: str = VM,
        forward: str = typer.Argument(..., metavar="[HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]"),
        expose: bool = typer.Option(False, "--expose", help="Allow a host address other machines reach "
                                    "(default: loopback only)."),
        json_out: bool = opt.JSON) -> None:
    """Forward a host port (127.0.0.1 unless an address is given) to a guest port: in the
    definition, and at once when the VM runs."""
    _show(api().port_add(name, forward, expose=expose), json_out)


@app.command("rm")
def rm(name: str = VM, forward: str = typer.Argument(..., metavar="[HOST_ADDR:]HOST_PORT[/tcp|/udp]"),
       json_out: bool = opt.JSON) -> None:
    """Remove a forward (the SSH forward stays)."""
    _show(api().port_remove(name, forward), json_out)
