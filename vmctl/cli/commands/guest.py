"""Guest commands over SSH: wait, ssh, exec, cp, provision."""

from __future__ import annotations

import os
import sys
from typing import BinaryIO
from pathlib import Path

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.guestargs import ExecCommand, ShellCommand, guest_argv
from vmctl.cli.output import emit_json, json_line, line, note, write_bytes
from vmctl.cli.progress import ProgressView
from vmctl.cli.state import api, state
from vmctl.errors import GUEST_COMMAND_FAILURE_EXIT, InvalidInput

app = typer.Typer()

INSECURE = typer.Option(False, "--insecure", help="Accept the guest's SSH host key unchecked (unsafe; says so).")
ALL = typer.Option(False, "--all", help="Every running vmctl VM on the host.")
PARALLEL = typer.Option(4, "--parallel", "-p", min=1, max=32, help="VMs handled at once.")


def _targets(all_vms: bool, first: str | None) -> list[str]:
    if all_vms:
        names = api().running_vm_names()
        if not names:
            raise InvalidInput("--all found no running vmctl VMs", hint="see `vmctl list`")
        return names
    if not first:
        raise InvalidInput("no VM given", hint="give NAME (or NAME1,NAME2) or --all")
    return [n for n in first.split(",") if n]


def _env(pairs: list[str]) -> dict[str, str]:
    """``KEY=VALUE``, or ``KEY`` alone: the value from vmctl's own environment (as
    ``docker run -e KEY``), which keeps it off the host's process list."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            if key not in os.environ:
                raise InvalidInput(f"--env {key}: no such variable in vmctl's environment",
                                   hint=f"export {key} first, or give --env {key}=VALUE")
            value = os.environ[key]
        env[key] = value
    return env


def _piped_stdin() -> BinaryIO | None:
    """stdin when it is a pipe or file (like ssh), None for a terminal or none at all. It
    is handed on as a stream: read as the command runs, after every check."""
    try:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        return sys.stdin.buffer
    except (OSError, ValueError, AttributeError):
        return None


def _out(data: bytes) -> None:
    write_bytes(data)


def _err(data: bytes) -> None:
    write_bytes(data, stream="stderr")


@app.command("wait")
def wait(name: str = typer.Argument(..., autocompletion=complete_vm),
         for_: str = typer.Option("ssh", "--for", help="ssh (authenticated) or boot (boot finished)."),
         timeout: float = opt.TIMEOUT, insecure: bool = INSECURE, json_out: bool = opt.JSON) -> None:
    """Wait until the guest answers SSH (or finished booting), stage by stage.
    With --json: one JSON line per stage as it is reached, then the result."""
    import json

    def stage(what: str, seconds: float) -> None:
        if json_out:
            line(json.dumps({"event": "stage", "stage": what, "seconds": round(seconds, 3)}, separators=(",", ":")))

    state().json_lines = json_out
    ready = api().wait(name, until=for_, timeout=timeout, insecure=insecure, on_stage=stage)
    if json_out:
        line(json.dumps({"name": name, "ready": for_, **ready}, separators=(",", ":")))
    else:
        line(f"{name} ready ({for_}): " + ", ".join(f"{k} {v:.1f}s" for k, v in ready["stages"].items()))


@app.command("ssh", cls=ShellCommand)
def ssh(ctx: typer.Context, name: str = typer.Argument(..., autocompletion=complete_vm),
        insecure: bool = INSECURE) -> int:
    """Open an interactive shell (with a pty) in the guest, or run CMD in it with a pty.

    vmctl's options go anywhere before the command; the command is everything after
    `--`, or (without `--`) from the first argument after NAME that is not an option."""
    return api().interactive(name, guest_argv(ctx) or None, insecure=insecure)


@app.command("exec", cls=ExecCommand)
def exec_(ctx: typer.Context,
          names: str = typer.Argument(None, metavar="NAME[,NAME...]", help="VM name(s), comma-separated.",
                                      autocompletion=complete_vm),
          all_vms: bool = ALL,
          stack: str = typer.Option(None, "--stack", help="Every VM of this stack (`vmctl up`) on the host (with "
                                    "--all-hosts: on every inventory host)."),
          all_hosts: bool = typer.Option(False, "--all-hosts", help="Running VMs of every inventory host (`vmctl "
                                         "host ls`); needs --label, --stack or --all. Lines prefixed HOST/VM."),
          label: list[str] = typer.Option(None, "--label", metavar="KEY=VALUE", help="With --all-hosts: only VMs "
                                          "carrying this label (repeatable: all of them)."),
          env: list[str] = typer.Option([], "--env", "-e", help="KEY=VALUE, or KEY to pass vmctl's own value; "
                                        "repeatable. Values reach the guest outside argv."),
          timeout: float = opt.TIMEOUT, parallel: int = PARALLEL, insecure: bool = INSECURE,
          no_stdin: bool = typer.Option(False, "--no-stdin", "-n", help="Do not pass stdin to the command."),
          json_out: bool = opt.JSON) -> int:
    """Run a command in one or more guests; exits with the command's exit status.

    vmctl's options go anywhere before `--`; everything after `--` is the command,
    passed literally (quoted for the guest's shell): `;`, `$()`, quotes, spaces and
    words like `--json` are never interpreted, on the host or in the guest. Without
    `--`, the command starts at the first argument after NAME that is not an option
    (a word that is also one of exec's options is then refused as ambiguous). If
    vmctl or the SSH connection fails, the exit status is 255 (as with ssh) and the
    error says why."""
    state().failure_exit = GUEST_COMMAND_FAILURE_EXIT
    if all_hosts or label:
        return _exec_all_hosts(ctx, names, stack, all_hosts, all_vms, label or [], env, timeout, parallel, insecure,
                               no_stdin, json_out)
    if sum(bool(x) for x in (all_vms, names, stack)) > 1:
        raise InvalidInput("give one of NAME[,NAME...], --all and --stack", hint="vmctl exec web1,web2 -- uptime")
    targets = api().stack_members(stack, on_note=note) if stack else _targets(all_vms, names)
    argv = guest_argv(ctx)
    if not argv:
        raise InvalidInput("no command given", hint="vmctl exec NAME -- CMD [ARGS...]")
    stdin = None if no_stdin else _piped_stdin()
    if len(targets) == 1 and not json_out:
        return api().exec(targets[0], argv, env=_env(env), timeout=timeout, stdin=stdin, insecure=insecure,
                          out=_out, err=_err)
    if len(targets) == 1:  # --json: the output is captured and printed with the status
        out: list[bytes] = []
        err: list[bytes] = []
        status = api().exec(targets[0], argv, env=_env(env), timeout=timeout, stdin=stdin, insecure=insecure,
                            out=out.append, err=err.append)
        emit_json({"name": targets[0], "exit_status": status, "stdout": b"".join(out).decode("utf-8", "replace"),
                   "stderr": b"".join(err).decode("utf-8", "replace")})
        return status
    summary = api().exec_many(targets, argv, env=_env(env), timeout=timeout, stdin=stdin, parallel=parallel,
                              insecure=insecure, write=note)
    if json_out:
        emit_json([{"name": o.name, "exit_status": None if o.vmctl_failed else o.exit_status,
                    "vmctl_exit_code": o.exit_status if o.vmctl_failed else None, "error": o.error}
                   for o in summary.outcomes])
    else:
        _print_summary(summary)
    return GUEST_COMMAND_FAILURE_EXIT if summary.vmctl_failed else summary.exit_status


def _exec_all_hosts(ctx: typer.Context, names: str | None, stack: str | None, all_hosts: bool, all_vms: bool,
                    label: list[str], env: list[str], timeout: float, parallel: int, insecure: bool, no_stdin: bool,
                    json_out: bool) -> int:
    """`exec --all-hosts`: a line per host that does not answer, the VMs' output prefixed
    HOST/VM, the per-VM table; the exit status as FleetExec.exit_status says."""
    from vmctl.api import parse_labels
    from vmctl.api.fleet import exec_all_hosts

    if not all_hosts:
        raise InvalidInput("--label goes with --all-hosts", hint="vmctl exec --all-hosts --label role=web -- uptime")
    if names:
        raise InvalidInput("--all-hosts takes no VM names", hint="filter with --label KEY=VALUE or --stack STACK")
    if stack:  # a stack placed over hosts: its VMs wherever they run
        label = [*label, f"vmctl.stack={stack}"]
    argv = guest_argv(ctx)
    if not argv:
        raise InvalidInput("no command given", hint="vmctl exec --all-hosts --label KEY=VALUE -- CMD [ARGS...]")
    result = exec_all_hosts(argv, labels=parse_labels(label), all_vms=all_vms, write=note, env=_env(env),
                            timeout=timeout, stdin=None if no_stdin else _piped_stdin(), parallel=parallel,
                            insecure=insecure)
    for host, why in result.unreachable:
        note(f"host {host}: unreachable: {why}")
    if json_out:
        emit_json(result.to_dict())
    elif result.summary is not None:
        _print_summary(result.summary)
    return result.exit_status


@app.command("ssh-config")
def ssh_config(names: list[str] = typer.Argument(None, metavar="[NAME...]", autocompletion=complete_vm),
               known_hosts: Path = typer.Option(None, "--known-hosts", help="Where to write the pinned host "
                                                "keys (default: vmctl's data directory)."),
               json_out: bool = opt.JSON) -> None:
    """Print an OpenSSH config for the VMs (default: every running vmctl VM), so that
    ssh, scp, rsync and Ansible use vmctl's pinned host keys: `vmctl ssh-config web1 >
    cfg; ssh -F cfg web1`."""
    config = api().ssh_config(names or None, known_hosts=known_hosts)
    if json_out:
        emit_json(config.to_dict())
        return
    for name, why in config.skipped:
        note(f"skipped {name}: {why}")
    line(config.text.rstrip("\n"))


@app.command("cp")
def cp(src: str = typer.Argument(..., help="Source: a local path or NAME:/path (with --stack: :/path)."),
       dest: str = typer.Argument(..., help="Destination: a local path or NAME:/path (with --stack: :/path)."),
       recursive: bool = typer.Option(False, "--recursive", "-r", help="Copy directories."),
       stack: str = typer.Option(None, "--stack", help="Every VM of this stack (`vmctl up`): the guest side is "
                                 ":/path; from the guests, each VM's file goes into DEST/VMNAME/."),
       parallel: int = PARALLEL, insecure: bool = INSECURE, json_out: bool = opt.JSON) -> int:
    """Copy files between host and guest over SFTP, keeping modes. On a terminal, a
    progress bar per file; --json: progress as JSON lines, then the result. With --stack,
    one line per VM and a table; exit non-zero if any VM's copy failed (the others are
    still done)."""
    if stack:
        summary = api().stack_copy(stack, src, dest, recursive=recursive, parallel=parallel, insecure=insecure,
                                   write=note)
        if json_out:
            emit_json([{"name": o.name, "error": o.error, "exit_status": o.exit_status} for o in summary.outcomes])
        else:
            _print_summary(summary)
        return summary.exit_status
    with ProgressView(json_out) as progress:
        vm = api().copy(src, dest, recursive=recursive, insecure=insecure, progress=progress)
    if json_out:
        json_line({"vm": vm, "src": src, "dest": dest})
    return 0


@app.command("provision")
def provision(args: list[str] = typer.Argument(..., metavar="NAME[,NAME...] FILE"),
              all_vms: bool = ALL, parallel: int = PARALLEL, insecure: bool = INSECURE,
              json_out: bool = opt.JSON) -> int:
    """Run the steps of a provisioning YAML file in order; a re-run resumes after the
    last completed step."""
    if len(args) != (1 if all_vms else 2):
        raise InvalidInput("expected NAME[,NAME...] FILE (or --all FILE)", hint="vmctl provision web1 setup.yaml")
    names = _targets(all_vms, None if all_vms else args[0])
    plan = Path(args[-1])
    if len(names) == 1 and not json_out:
        result = api().provision(names[0], plan, insecure=insecure, on_event=_event, out=_out, err=_err)
        line(f"{names[0]}: {len(result.ran)} step(s) ran, {len(result.skipped)} already done")
        return 0
    summary = api().provision_many(names, plan, parallel=parallel, insecure=insecure, write=note)
    if json_out:
        emit_json([{"name": o.name, "exit_status": o.exit_status, "error": o.error} for o in summary.outcomes])
        return summary.exit_status
    return _summary(summary)


def _event(event) -> None:
    note(f"[{event.step_index}] {event.step_name}: {event.kind}{' - ' + event.detail if event.detail else ''}")


def _print_summary(summary) -> None:
    from vmctl.api import format_summary

    for text in format_summary(summary):
        note(text)


def _summary(summary) -> int:
    _print_summary(summary)
    return summary.exit_status
