"""Shell completion of VM, snapshot, image and template names (asked of libvirt when the user presses Tab).

During completion click parses the command line without running any command, so
the global options are read from the root context's parameters here."""

from __future__ import annotations

from collections.abc import Callable

import click

from vmctl.cli.state import CliState


def _names(ctx: click.Context, list_names: Callable[[CliState], list[str]], incomplete: str) -> list[str]:
    params = ctx.find_root().params
    state = CliState(uri=params.get("connect"), host=params.get("host"))
    try:
        return [n for n in list_names(state) if n.startswith(incomplete)]
    except Exception:  # noqa: BLE001 - a completion must never print a traceback into the shell
        return []
    finally:
        state.close()


def complete_vm(ctx: click.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda s: [vm.name for vm in s.api().list()], incomplete)


def complete_image(ctx: click.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda s: [image.name for image in s.api().list_images()], incomplete)


def complete_template(ctx: click.Context, incomplete: str) -> list[str]:
    return _names(ctx, lambda s: [t.name for t in s.api().templates()], incomplete)


def complete_snapshot(ctx: click.Context, incomplete: str) -> list[str]:
    """The snapshots of the VM named earlier on the command line."""
    name = ctx.params.get("name")
    if not name:
        return []
    return _names(ctx, lambda s: [snap.name for snap in s.api().snapshot_list(name)], incomplete)
