"""Entry point: the root command, global options, lazily loaded commands, and the
one place where errors become messages and exit codes.

Each command lives in ``vmctl.cli.commands.<module>`` and is imported only when it
runs: ``vmctl --help`` lists them from the table below without importing libvirt,
lxml or paramiko.
"""

from __future__ import annotations

import sys

import click
import typer
from typer.core import TyperGroup

from vmctl import __version__
from vmctl.cli.common import bad_value, missing_hint, with_common_options
from vmctl.cli.output import report_error
from vmctl.cli.report import closed_pipe, run_reporting
from vmctl.cli.state import CliState
from vmctl.errors import INTERRUPTED_EXIT, USAGE_ERROR_EXIT, Interrupted
from vmctl.signals import raised_signal

# name -> (module under vmctl.cli.commands, one-line help). A module's typer app either
# is the noun group itself (its name is the module's name) or holds top-level verbs.
COMMANDS: dict[str, tuple[str, str]] = {
    "create": ("vm", "Create a VM from an image (a linked qcow2 clone) and start it."),
    "list": ("vm", "List VMs."),
    "info": ("vm", "Show a VM's state, resources, disks and how to reach it."),
    "start": ("vm", "Start a VM."),
    "stop": ("vm", "Shut a VM down (ACPI); --force powers it off."),
    "reboot": ("vm", "Ask the guest to reboot."),
    "destroy": ("vm", "Power a VM off at once (like pulling the plug); it stays defined."),
    "clone": ("vm", "Copy a VM (also while it runs) into a new one with a new identity."),
    "edit": ("edit", "Edit a VM's domain XML in $EDITOR (checked before it is defined), like virsh edit."),
    "set": ("vm", "Change a VM's vCPUs or memory (from its next start; live where the guest allows)."),
    "pause": ("vm", "Pause a running VM (vCPUs stop; memory and connections stay)."),
    "resume": ("vm", "Resume a paused VM."),
    "autostart": ("vm", "Start a VM with the host's libvirtd (on) or not (off)."),
    "delete": ("vm", "Power off and remove a VM and its own volumes (never base images)."),
    "console": ("vm", "Attach to the serial console (Ctrl-] leaves)."),
    "wait": ("guest", "Wait until the guest answers SSH (or finished booting)."),
    "ssh": ("guest", "Open an interactive shell (with a pty) in the guest."),
    "exec": ("guest", "Run a command in one or more guests; exits with its status."),
    "ssh-config": ("guest", "Print an OpenSSH config (pinned host keys) for ssh, scp, rsync, Ansible."),
    "cp": ("guest", "Copy files between host and guest over SFTP."),
    "provision": ("guest", "Run a provisioning YAML file's steps (resumable)."),
    "snapshot": ("snapshot", "Snapshots: take, list, revert, delete; groups; rollback runs."),
    "backup": ("backup", "Copy a VM (even running) into a self-contained, checked backup."),
    "restore": ("backup", "Bring a backup back as a new VM (checksums verified first)."),
    "run": ("run", "Boot an ephemeral VM, run a command in it, collect artefacts, remove it (CI)."),
    "gc": ("run", "Remove what dead runs left, and old VMs kept by `run --keep-on-failure`."),
    "events": ("events", "Stream libvirt's lifecycle events of the host's domains (--json: NDJSON)."),
    "repair": ("repair", "Finish or undo operations that were killed (half-made VMs, ...)."),
    "migrate": ("migrate", "Move a VM to another libvirt host (live when it runs, offline when not)."),
    "up": ("stack", "Bring a stack file's VMs up on this host (create what is missing, in dependency order)."),
    "down": ("stack", "Remove a stack's VMs from this host."),
    "ps": ("stack", "List a stack's VMs: state, addresses, SSH."),
    "disk": ("disk", "Disks of a VM: list, add, remove, grow."),
    "port": ("port", "Port forwards of a VM: list, add, remove (loopback by default)."),
    "image": ("image", "Base images in vmctl's storage pool."),
    "template": ("template", "Domain XML templates."),
    "host": ("host", "The libvirt host: accelerator, versions, resources; the inventory of hosts (-H NAME)."),
    "lab": ("lab", "A lab of libvirt hosts on this machine, for trying migration (root)."),
}
GROUPS = {"image", "template", "host", "snapshot", "lab", "disk", "port"}


class LazyGroup(TyperGroup):
    """Commands from the table, imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        import importlib

        module = importlib.import_module(f"vmctl.cli.commands.{COMMANDS[cmd_name][0]}")
        command = typer.main.get_command(module.app)
        if cmd_name in GROUPS:
            command.name = cmd_name
            return with_common_options(command)
        if isinstance(command, click.Group):
            found = command.get_command(ctx, cmd_name)
            return with_common_options(found) if found is not None else None
        return with_common_options(command)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_module, text) in COMMANDS.items()])


def _version(value: bool) -> None:
    if value:
        click.echo(f"vmctl {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="vmctl",
    cls=LazyGroup,
    help="Manage KVM/QEMU virtual machines through libvirt.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion SHELL (bash, zsh, fish)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _global(
    ctx: typer.Context,
    connect: str = typer.Option(None, "-c", "--connect", metavar="URI",
                                help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, then qemu:///system)"),
    host: str = typer.Option(None, "-H", "--host", metavar="NAME",
                             help="A host of the inventory by name (`vmctl host ls`), instead of -c URI."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
    json_out: bool = typer.Option(False, "--json", help="JSON for scripts (as after the command)."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print nothing on success (as after the command)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print vmctl's version and exit."),
) -> None:
    state = ctx.ensure_object(CliState)
    state.uri, state.host, state.debug = connect, host, debug
    state.check_target()
    state.json, state.quiet = state.json or json_out, state.quiet or quiet


def _before_separator(args: list[str]) -> list[str]:
    """Options count only before ``--``: after it, they belong to a guest command."""
    return args[: args.index("--")] if "--" in args else args


def run(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code instead of exiting."""
    args = sys.argv[1:] if argv is None else list(argv)
    own = _before_separator(args)
    state = CliState(debug="--debug" in own, json="--json" in own)

    def body() -> int:
        try:
            result = app(args=args, prog_name="vmctl", standalone_mode=False, obj=state)
            if result == INTERRUPTED_EXIT and raised_signal():  # typer turned our Interrupted into 130
                raise Interrupted(raised_signal())
            return result if isinstance(result, int) else 0
        except click.exceptions.Exit as exc:
            return exc.exit_code
        except click.exceptions.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):  # click wraps Ctrl-C, SIGTERM, SIGHUP
                raise exc.__cause__ from None
            sys.stderr.write("aborted\n")
            return INTERRUPTED_EXIT
        except click.ClickException as exc:  # usage errors: bad option, missing argument
            if isinstance(exc, click.BadParameter) and not isinstance(exc, click.MissingParameter):
                error = bad_value(exc)  # a bad value: invalid input (exit 3), as docs/errors.md says
                if state.failure_exit is not None:
                    error["vmctl_exit_code"], error["exit_code"] = error["exit_code"], state.failure_exit
                report_error(error, state.json, one_line=state.json_lines)
                return int(error["exit_code"])
            code = getattr(exc, "exit_code", USAGE_ERROR_EXIT)
            hint = getattr(exc, "hint", None) or missing_hint(exc)  # (guestargs.UsageHint: the right form)
            error = {"code": "usage", "exit_code": code, "message": exc.format_message(),
                     "hint": hint or "see `vmctl --help` or `vmctl COMMAND --help`"}
            if state.failure_exit is not None:  # exec: 2 could be the guest command's status
                error["vmctl_exit_code"], error["exit_code"] = code, state.failure_exit
            if state.json:
                report_error(error, True)
            else:
                exc.show()
                if hint:
                    sys.stderr.write(f"hint: {hint}\n")
            return int(error["exit_code"])
        finally:
            state.close()
    return run_reporting(body, state)


def main() -> None:
    """The full CLI (``vmctl.cli.main`` tries the fast path first)."""
    try:
        code = run()
        sys.stdout.flush()
    except BrokenPipeError:  # the last buffered output met a closed pipe
        code = closed_pipe()
    except Exception:  # a bug, not a user error: say so, and keep the traceback
        import traceback

        traceback.print_exc()
        sys.stderr.write("error: internal error in vmctl (a bug); please report it with the traceback above\n")
        code = 1
    sys.exit(code)
