"""`vmctl migrate NAME DEST_URI`: checks, progress and the result.

People get the checks and a progress line on stderr (one line redrawn on a
terminal, a line per second otherwise) and the result on stdout; ``--json`` makes
every check, progress sample, warning and the result one JSON object per line on
stdout (errors too)."""

from __future__ import annotations

import json
import sys
import time

import typer

from vmctl.cli.complete import complete_vm
from vmctl.cli.output import line, note, write_bytes
from vmctl.cli.state import api, state
from vmctl.api import display_uri
from vmctl.errors import InvalidInput

app = typer.Typer()
MIB = 1024 * 1024


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB"


class Printer:
    """Turns migration events into lines for people, or JSON lines."""

    def __init__(self, json_lines: bool) -> None:
        self.json_lines = json_lines
        self.tty = sys.stderr.isatty()
        self.last_progress = 0.0
        self.open_line = False

    def json(self, value: dict[str, object]) -> None:
        write_bytes((json.dumps(value, default=str, separators=(",", ":")) + "\n").encode())

    def __call__(self, event) -> None:  # MigrationEvent
        if self.json_lines:
            self.json(event.to_dict())
            return
        if event.kind == "progress":
            self._progress(event)
            return
        self._end_line()
        if event.kind == "check":
            note(f"check  {event.name:<12} {'ok' if event.ok else 'FAILED':<6} {event.detail}")
        elif event.kind == "warning":
            note(f"warning: {event.detail}")
        elif event.kind == "phase" and event.detail:
            note(f"{event.name}: {event.detail}")

    def _progress(self, event) -> None:
        stats = event.stats
        if stats is None or not stats.active or not stats.data_total:
            return
        now = time.monotonic()
        if not self.tty and now - self.last_progress < 1.0:
            return
        self.last_progress = now
        total = max(stats.data_total, 1)
        pct = min(100, 100 * stats.data_processed // total)
        text = (f"migrating: {pct:3d}% {_size(stats.data_processed)} of {_size(stats.data_total)}, "
                f"{_size(stats.speed_bps)}/s, dirtying {_size(stats.dirty_rate_bps)}/s, "
                f"{_size(stats.data_remaining)} left, {event.elapsed:.1f} s")
        if self.tty:
            sys.stderr.write("\r\033[K" + text)
            sys.stderr.flush()
            self.open_line = True
        else:
            note(text)

    def _end_line(self) -> None:
        if self.open_line:
            sys.stderr.write("\n")
            self.open_line = False


def _destination(name: str, dest: str, weigher: str, printer: Printer) -> str:
    """DEST as a URI: ``auto`` is placement's choice (said, with why), a bare name the
    inventory's host of that name; anything with ``://`` is a URI already."""
    if "://" in dest:
        return dest
    from vmctl.api.hosts import host_uri

    if dest != "auto":
        return host_uri(dest)
    from vmctl.api.placement import place_vm

    placement = place_vm(api(), name, weigher=weigher)
    if printer.json_lines:
        printer.json({"event": "placed", **placement.to_dict()})
    else:
        note(f"placed on {placement.host}: {placement.reason}")
    return host_uri(placement.host)


@app.command("migrate")
def migrate(
    name: str = typer.Argument(..., help="VM name.", autocompletion=complete_vm),
    dest_uri: str = typer.Argument(..., metavar="DEST", help="libvirt URI of the destination host, a host of the "
                                   "inventory by name, or auto: the one placement chooses (never the VM's own)."),
    copy_storage: bool = typer.Option(False, "--copy-storage", help="Copy the disks (the destination cannot "
                                      "see them): volumes are made there, the source's removed after."),
    keep_source: bool = typer.Option(False, "--keep-source", help="Keep a (shut-off) definition on the source."),
    tls: bool = typer.Option(False, "--tls", help="Encrypt the migration stream with QEMU's TLS."),
    insecure_transport: bool = typer.Option(False, "--insecure-transport",
                                            help="Allow a plain-text qemu+tcp:// connection."),
    max_downtime: int = typer.Option(None, "--max-downtime", metavar="MS", help="Largest pause allowed at the "
                                     "switch-over (default 300; vmctl starts lower and raises it step by step)."),
    bandwidth: int = typer.Option(None, "--bandwidth", metavar="MIB", help="Limit the transfer to MiB/s."),
    on_timeout: str = typer.Option("abort", "--on-timeout", help="abort (default: the guest stays where it is) "
                                   "or postcopy (finish on the destination; a failure then loses the guest)."),
    timeout: float = typer.Option(None, "--timeout", metavar="S", help="Completion timeout in seconds "
                                  "(default: 150 s per GiB of memory and copied disk, at least 30 s)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only run the pre-flight checks."),
    place: str = typer.Option("spread", "--place", metavar="WEIGHER", help="With DEST auto: spread (default) or "
                              "pack (docs/fleet.md)."),
    json_out: bool = typer.Option(False, "--json", help="JSON lines: every check, progress sample, warning "
                                  "and the result (errors too)."),
) -> None:
    """Move a VM to another libvirt host: live when it runs, offline when it is shut off.
    On any failure the guest keeps running on exactly one host."""
    if on_timeout not in ("abort", "postcopy"):
        raise InvalidInput(f"invalid --on-timeout {on_timeout!r}", hint="use abort or postcopy")
    if json_out:
        state().json = True
        state().json_lines = True
    printer = Printer(json_out)
    dest_uri = _destination(name, dest_uri, place, printer)
    try:
        result = api().migrate(name, dest_uri, copy_storage=copy_storage, keep_source=keep_source, tls=tls,
                               insecure_transport=insecure_transport, max_downtime_ms=max_downtime,
                               bandwidth_mib=bandwidth, on_timeout=on_timeout, timeout=timeout, dry_run=dry_run,
                               on_event=printer)
    finally:
        printer._end_line()
    if json_out:
        printer.json({"event": "result", **result.to_dict()})
        return
    if result.dry_run:
        line(f"dry run: all {len(result.checks)} checks passed for {name} ({result.mode}, {result.storage} storage); "
             "nothing was changed")
        return
    downtime = f"downtime {result.downtime_ms} ms, " if result.downtime_ms is not None else ""
    port = f"; ssh forward port {result.ssh_port}" if result.ssh_port else ""
    line(f"migrated {name} ({result.mode}, {result.storage} storage) to {display_uri(result.destination)} in "
         f"{result.total_seconds:.2f} s ({downtime}{_size(result.bytes_moved)} moved){port}")
