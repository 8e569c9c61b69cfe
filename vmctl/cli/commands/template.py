"""`vmctl template ...`"""

from __future__ import annotations

import typer

from vmctl.cli.state import api
from vmctl.cli.output import emit_json, line, table
from vmctl.cli import options as opt

app = typer.Typer(help="Domain XML templates.", no_args_is_help=True)


@app.command("list")
def list_(json_out: bool = opt.JSON) -> None:
    """List built-in and user templates."""
    templates = api().templates()
    if json_out:
        emit_json([t.to_dict() for t in templates])
        return
    table(["NAME", "BOOT", "SOURCE", "DESCRIPTION"],
          [(t.name, "kernel" if t.direct_boot else "disk", "built-in" if t.builtin else str(t.path),
            t.description) for t in templates])


@app.command("show")
def show(
    template: str = typer.Argument(..., help="Template name or path to an XML file."),
    name: str = typer.Option("example", "--name", help="VM name to render with."),
    image: str = opt.IMAGE,
    cpus: int = opt.CPUS,
    memory: str = opt.MEMORY,
    accel: str = opt.ACCEL,
    nested: bool = opt.NESTED,
    user: str = opt.USER,
) -> None:
    """Print the domain XML a create with these options would define (no side effects)."""
    line(api().render(name, template=template, image=image, cpus=cpus, memory=memory, accel=accel,
                      nested=nested, user=user).rstrip())
