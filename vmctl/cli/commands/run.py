"""CI commands: run (an ephemeral VM for one command) and gc (what dead runs left)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from vmctl.cli import options as opt
from vmctl.cli.commands.guest import _env
from vmctl.cli.commands.vm import create_labels_from_environment
from vmctl.cli.guestargs import RunCommand, guest_argv
from vmctl.cli.output import emit_json, line, note, write_bytes
from vmctl.cli.state import api, state
from vmctl.api import parse_labels

app = typer.Typer()


def _json_line(value: object) -> None:
    line(json.dumps(value, default=str, separators=(",", ":")))


@app.command("run", cls=RunCommand)
def run(ctx: typer.Context,
        name: str = typer.Option(None, "--name", help="The run VM's name (default: run-<random>)."),
        template: str = opt.TEMPLATE, image: str = opt.IMAGE, cpus: int | None = opt.CPUS,
        memory: str | None = opt.MEMORY, disk: str = opt.DISK, accel: str = opt.ACCEL, nested: bool = opt.NESTED,
        user: str = opt.USER,
        script: Path = typer.Option(None, "--script", help="Upload this host file and run it (the command's "
                                    "words become its arguments)."),
        env: list[str] = typer.Option([], "--env", "-e", help="KEY=VALUE, or KEY to pass vmctl's own value; "
                                      "repeatable. Values reach the guest outside argv."),
        collect: list[str] = typer.Option([], "--collect", metavar="GUEST_PATH:HOST_DIR",
                                          help="Copy this guest file or directory into HOST_DIR afterwards, "
                                          "whatever the outcome (repeatable)."),
        artifacts: Path = typer.Option(None, "--artifacts", metavar="DIR", help="On failure, timeout or "
                                       "cancel, write a failure bundle to DIR/NAME/ (console, kernel log, "
                                       "journal, info, events)."),
        keep_on_failure: bool = typer.Option(False, "--keep-on-failure", help="Leave a failed run's VM "
                                             "running for debugging (`vmctl delete` or `vmctl gc` removes it)."),
        timeout: float = typer.Option(None, "--timeout", min=1, help="Seconds the command may run "
                                      "(default: no limit)."),
        ready_timeout: float = typer.Option(None, "--ready-timeout", min=1, help="Seconds for boot and SSH "
                                            "(default scales with the accelerator)."),
        ssh_key: Path = typer.Option(None, "--ssh-key", help="Private key to log in with (default: vmctl's own)."),
        user_data: Path = typer.Option(None, "--user-data", help="Your cloud-config, merged with vmctl's keys."),
        network: str = typer.Option(None, "--network", help="Attach to this libvirt network."),
        internet: bool = opt.INTERNET, drop_unusable: bool = opt.DROP,
        label: list[str] = typer.Option(None, "--label", metavar="KEY=VALUE", help="Put this label on the VM."),
        json_out: bool = opt.JSON) -> int:
    """Boot an ephemeral VM, run a command in it, copy artefacts back, remove it.

    Exits with the command's status; 255 when vmctl itself fails (boot, SSH, a
    timeout), 130/143 when cancelled. The VM is transient and bound to vmctl's
    libvirt connection: even if vmctl is killed, no guest stays running, and the
    next `vmctl run` or `vmctl gc` removes its volumes. With --json, stdout carries
    one JSON event per line and the result last; the command's output goes to stderr."""
    from vmctl.api.runs import RunFailed

    state().json_lines = json_out
    labels = {**create_labels_from_environment(), **parse_labels(label or [])}
    if json_out:
        def on_event(event) -> None:
            _json_line(event.to_dict())
        out = err = lambda data: write_bytes(data, stream="stderr")
    else:
        def on_event(event) -> None:
            if event.stage in ("planned", "booted", "ssh-ready", "collected", "collect-failed", "cleaned-up",
                               "failed", "timeout", "cancelled", "error"):
                fields = " ".join(f"{k}={v}" for k, v in event.detail.items() if k not in ("argv", "error"))
                note(f"vmctl run: {event.stage} {fields}".rstrip())
        out = lambda data: write_bytes(data)  # noqa: E731
        err = lambda data: write_bytes(data, stream="stderr")  # noqa: E731
    try:
        result = api().run(guest_argv(ctx), name=name, script=script, env=_env(env), collect=collect,
                           artifacts=artifacts, keep_on_failure=keep_on_failure, timeout=timeout,
                           ready_timeout=ready_timeout, image=image, template=template, cpus=cpus, memory=memory,
                           disk=disk, accel=accel, nested=nested, user=user, ssh_key=ssh_key,
                           user_data=user_data, network=network, internet=internet, drop_unusable=drop_unusable, labels=labels,
                           on_event=on_event, out=out, err=err)
    except RunFailed as failed:
        _report(failed.result, json_out)
        raise failed.cause from None
    _report(result, json_out)
    return result.exit_status if result.exit_status is not None else 255


def _report(result, json_out: bool) -> None:
    if json_out:
        _json_line({"result": result.to_dict()})
        return
    if result.bundle:
        note(f"vmctl run: failure bundle in {result.bundle}")
    if result.kept:
        note(f"vmctl run: {result.name} kept for debugging: `vmctl ssh {result.name}`, then `vmctl delete "
             f"{result.name}`")


@app.command("gc")
def gc(older_than: str = typer.Option(None, "--older-than", metavar="AGE", help="Also remove VMs kept by "
                                      "`run --keep-on-failure` older than AGE (e.g. 2h, 1d)."),
       dry_run: bool = typer.Option(False, "--dry-run", help="Only say what would be removed."),
       json_out: bool = opt.JSON) -> None:
    """Remove what dead runs left (volumes, records) and old kept run VMs.

    A run still in progress is never touched."""
    report = api().gc(older_than=older_than, dry_run=dry_run)
    if json_out:
        emit_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    for finding in report.repaired:
        line(f"{verb} leftovers of {finding.op or 'an unreadable record'} {finding.target}: "
             + ", ".join(finding.items))
    for name in report.removed:
        line(f"{verb} kept run VM {name}")
    for name, why in report.skipped:
        line(f"skipped {name}: {why}")
    if not (report.repaired or report.removed or report.skipped):
        line("nothing to remove")
