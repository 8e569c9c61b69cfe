"""`vmctl image ...`"""

from __future__ import annotations

from pathlib import Path

import typer

from vmctl.cli import options as opt
from vmctl.cli.progress import ProgressView
from vmctl.cli.state import api
from vmctl.cli.output import emit_json, json_line, line, table
from vmctl.errors import InvalidInput
from vmctl.api import format_size

app = typer.Typer(help="Base images in vmctl's storage pool.", no_args_is_help=True)


@app.command("list")
def list_(json_out: bool = opt.JSON) -> None:
    """List base images."""
    images = api().list_images()
    if json_out:
        emit_json([i.to_dict() for i in images])
        return
    table(["NAME", "FORMAT", "SIZE", "BOOT", "USER", "PATH"],
          [(i.name, i.format, format_size(i.virtual_size), i.boot, i.default_user or "-", i.path) for i in images])


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="A qcow2 or raw image file, e.g. a distro cloud image."),
    name: str = typer.Option(None, "--name", help="Image name (default: from the file name)."),
    fmt: str = typer.Option(None, "--format", help="qcow2 or raw (default: from the file's header)."),
    user: str = typer.Option("", "--user", help="The image's default login user, e.g. debian."),
    json_out: bool = opt.JSON,
) -> None:
    """Import an image file as a read-only base (refused if it has a backing or data file)."""
    with ProgressView(json_out) as progress:
        image = api().import_image(file, name=name, fmt=fmt, default_user=user, progress=progress)
    if json_out:
        json_line(image.to_dict())
    else:
        line(f"imported {image.name} ({image.format}, {format_size(image.virtual_size)}) at {image.path}")


@app.command("rm")
def rm(name: str = typer.Argument(...), json_out: bool = opt.JSON) -> None:
    """Remove a base image (refused while any VM uses it)."""
    image = api().remove_image(name)
    if json_out:
        emit_json({"removed": image.name})
    else:
        line(f"removed image {image.name}")


@app.command("build")
def build(recipe: str = typer.Argument(..., help="'tiny' (the embedded guest, direct kernel boot) or "
                                     "'tinydisk' (the same guest on a BIOS + UEFI bootable disk)."),
          json_out: bool = opt.JSON) -> None:
    """Build the embedded guest from Debian packages (cached; redone when its recipe changes).
    With --json: one JSON line per step as it happens, then the image."""
    if recipe not in ("tiny", "tinydisk"):
        raise InvalidInput(f"unknown image recipe {recipe!r}", hint="vmctl can build 'tiny' and 'tinydisk'")
    builder = api().build_tiny if recipe == "tiny" else api().build_tinydisk
    with ProgressView(json_out) as progress:
        image, changed = builder(progress=progress)
    if json_out:
        json_line({**image.to_dict(), "changed": changed})
    else:
        line(f"image {image.name} {'built' if changed else 'up to date'} (recipe {image.recipe_id})")
