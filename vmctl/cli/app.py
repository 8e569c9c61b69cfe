"""Entry point: the typer app, global options, and the one place where errors
become messages and exit codes."""

from __future__ import annotations

import sys

import click
import typer

from vmctl.cli import context, guest_commands, host_commands, image_commands, template_commands, vm_commands
from vmctl.cli.output import emit_json
from vmctl.errors import USAGE_ERROR_EXIT, VmctlError, exit_code_for

app = typer.Typer(
    name="vmctl",
    help="Manage KVM/QEMU virtual machines through libvirt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    connect: str = typer.Option(None, "-c", "--connect", metavar="URI",
                                help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system)"),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    context.STATE.uri = connect
    context.STATE.debug = debug


app.add_typer(host_commands.app, name="host")
app.add_typer(template_commands.app, name="template")
app.add_typer(image_commands.app, name="image")
vm_commands.register(app)
guest_commands.register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting."""
    args = sys.argv[1:] if argv is None else argv
    wants_json = "--json" in args
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="vmctl", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except VmctlError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _report(exc.to_dict(), wants_json)
        return exit_code_for(exc)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        code = getattr(exc, "exit_code", USAGE_ERROR_EXIT)
        if wants_json:
            _report({"code": "usage", "exit_code": code, "message": exc.format_message(),  # type: ignore[attr-defined]
                     "hint": "see `vmctl --help` or `vmctl COMMAND --help`"}, True)
        else:
            exc.show()  # type: ignore[attr-defined]
        return code
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    finally:
        context.close()


def _report(error: dict[str, object], wants_json: bool) -> None:
    if wants_json:
        emit_json({"error": error})
    else:
        sys.stderr.write(f"error: {error['message']}\n")
        if error.get("hint"):
            sys.stderr.write(f"hint: {error['hint']}\n")


def main() -> None:
    try:
        code = run()
    except Exception:  # a bug, not a user error: say so, and keep the traceback
        import traceback

        traceback.print_exc()
        sys.stderr.write("error: internal error in vmctl (a bug); please report it with the traceback above\n")
        code = 1
    sys.exit(code)
