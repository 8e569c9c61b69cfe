"""`vmctl template ...`"""

from __future__ import annotations

from pathlib import Path

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
    cpus: int | None = opt.CPUS,
    memory: str | None = opt.MEMORY,
    accel: str = opt.ACCEL,
    nested: bool = opt.NESTED,
    user: str = opt.USER,
    network: str = typer.Option(None, "--network", help="As for create: a libvirt network instead of the "
                                "user-mode NIC."),
    drop_unusable: bool = opt.DROP,
) -> None:
    """Print the domain XML `vmctl create` with these options would define, seed CD-ROM
    and NIC included (no side effects; uuid, MAC and port differ per create)."""
    line(api().render(name, template=template, image=image, cpus=cpus, memory=memory, accel=accel,
                      nested=nested, user=user, network=network, drop_unusable=drop_unusable).rstrip())


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="Domain XML: `virsh dumpxml`, virt-install --print-xml, virt-manager."),
    name: str = typer.Option(..., "--name", help="Name of the new user template."),
    drop_unusable: bool = opt.DROP,
    replace: bool = typer.Option(False, "--replace", help="Overwrite a user template of that name."),
    json_out: bool = opt.JSON,
) -> None:
    """Store a cleaned copy of a domain XML file as a named user template (the source VM's
    uuid, MACs, ports, labels, NVRAM path dropped; cdroms emptied)."""
    prepared = api().import_template(file, name, drop_unusable=drop_unusable, replace=replace)
    dropped = [f"{u.element}: {u.reason}" for u in prepared.dropped]
    done = [u.done for u in prepared.dropped]
    if json_out:
        emit_json({**prepared.template.to_dict(), "machine": prepared.facts.machine, "dropped": dropped,
                   "fitted": [f"{how}: {item}" for how, item in zip(done, dropped)]})
        return
    line(f"imported template {name} ({prepared.facts.machine}, {'UEFI' if prepared.facts.efi else 'BIOS'}) "
         f"at {prepared.template.path}")
    for how, item in zip(done, dropped):
        line(f"  {how}: {item}")
