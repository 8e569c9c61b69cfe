"""The options every command takes in the same places: ``-c URI``, ``-H NAME``, ``--json``
and ``-q`` work before the command (``vmctl --json list``) and after it (``vmctl list
-c URI``) alike. Commands that do not declare one get it added here, as an option
that only sets the invocation's state (see :mod:`vmctl.cli.state`)."""

from __future__ import annotations

import click

from vmctl.cli.state import CliState


def _state(ctx: click.Context) -> CliState:
    return ctx.ensure_object(CliState)


def _set_uri(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        _state(ctx).uri = value
        _state(ctx).check_target()


def _set_host(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        _state(ctx).host = value
        _state(ctx).check_target()


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).json = True


def _set_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).quiet = True


class CommonOption(click.Option):
    """An option added to every command; after a guest command's first word it is the guest's
    (``exec web1 sh -c 'ls'``), unlike the command's own options (see ``vmctl.cli.guestargs``)."""


def _extra(words: set[str]) -> list[click.Option]:
    options: list[click.Option] = []
    if "-c" not in words:
        options.append(CommonOption(["-c", "--connect"], metavar="URI", expose_value=False, callback=_set_uri,
                                    help="libvirt URI (as before the command)."))
    if "-H" not in words and "--host" not in words:
        options.append(CommonOption(["-H", "--host"], metavar="NAME", expose_value=False, callback=_set_host,
                                    help="A host of the inventory (`vmctl host ls`) instead of -c URI."))
    if "--json" not in words:
        options.append(CommonOption(["--json"], is_flag=True, expose_value=False, callback=_set_json,
                                    help="Errors as JSON for scripts (this command prints no other result)."))
    if "-q" not in words:
        options.append(CommonOption(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_set_quiet,
                                    help="Print nothing on success but what the command exists to print."))
    return options


def with_common_options(command: click.Command) -> click.Command:
    """``command`` (and a group's subcommands, as they are looked up) with -c, -H, --json, -q."""
    if isinstance(command, click.Group):
        if not getattr(command, "_vmctl_common", False):
            lookup = command.get_command

            def get_command(ctx: click.Context, name: str) -> click.Command | None:
                found = lookup(ctx, name)
                return with_common_options(found) if found is not None else None
            command.get_command = get_command  # type: ignore[method-assign]
            command._vmctl_common = True  # type: ignore[attr-defined]
        return command
    if not getattr(command, "_vmctl_common", False):
        words = {w for p in command.params if isinstance(p, click.Option) for w in (*p.opts, *p.secondary_opts)}
        command.params.extend(_extra(words))
        command._vmctl_common = True  # type: ignore[attr-defined]
    return command


def bad_value(exc: click.BadParameter) -> dict[str, object]:
    """A bad option value as vmctl's invalid-input error (exit 3), naming the option."""
    from vmctl.errors import EXIT_CODES, InvalidInput

    param = exc.param
    words = getattr(param, "opts", None) or ([param.name] if param is not None and param.name else [])
    what = max(words, key=len) if words else "value"
    choices = getattr(getattr(param, "type", None), "choices", None)
    hint = ("one of: " + ", ".join(map(str, choices))) if choices else f"see `{exc.ctx.command_path} --help`" \
        if exc.ctx is not None else "see `vmctl COMMAND --help`"
    return {"code": "invalid-input", "exit_code": EXIT_CODES[InvalidInput], "message": f"invalid {what}: {exc.message}",
            "hint": hint}


# Missing arguments whose usual mistake deserves its own hint: (command, parameter) -> hint.
_MISSING_HINTS = {
    ("migrate", "dest_uri"): "the destination is the second argument, `vmctl [-c SOURCE_URI] migrate NAME DEST_URI` "
                             "(-c names the host the VM is on now), e.g. vmctl migrate web1 qemu+ssh://root@hv2/system",
    ("clone", "new"): "vmctl clone SOURCE NEW_NAME",
}


def missing_hint(exc: click.ClickException) -> str | None:
    """A hint for a missing argument that people commonly get wrong."""
    if not isinstance(exc, click.MissingParameter) or exc.ctx is None or exc.param is None:
        return None
    return _MISSING_HINTS.get((exc.ctx.command.name or "", exc.param.name or ""))
