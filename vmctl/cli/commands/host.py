"""`vmctl host ...`"""

from __future__ import annotations

import typer

from vmctl.cli.state import api
from vmctl.cli import options as opt
from vmctl.cli.output import emit_json, line, table
from vmctl.api import format_size

app = typer.Typer(help="The libvirt host: accelerator, versions, resources; the inventory of hosts.",
                  no_args_is_help=True)


@app.callback()
def host() -> None:
    """The libvirt host: accelerator, versions, resources. The inventory of hosts (add, rm,
    ls) names libvirt URIs: `-H NAME` then works wherever `-c URI` does."""


@app.command("info")
def info(json_out: bool = opt.JSON) -> None:
    """Show the accelerator vmctl will use (kvm or tcg) and why, versions and resources."""
    facts = api().host_info()
    if json_out:
        emit_json(facts.to_dict())
        return
    free = format_size(facts.pool_free_bytes) if facts.pool_free_bytes is not None else "(pool not created yet)"
    for key, value in [
        ("URI", facts.uri), ("Hostname", facts.hostname), ("Accelerator", facts.accel),
        ("Why", facts.accel_reason), ("KVM usable", _yes(facts.kvm_usable)),
        ("Nested virt", _yes(facts.nested_available)), ("libvirt", facts.libvirt_version),
        ("QEMU", facts.hypervisor_version), ("CPUs", facts.cpus),
        ("Memory", f"{format_size(facts.memory_mib * 1024 * 1024)} ({format_size(facts.free_memory_mib * 1024 * 1024)} free)"),
        ("Pool", f"{facts.pool} at {facts.pool_path or '-'}: {free} free"),
    ]:
        line(f"{key + ':':<13} {value}")


@app.command("check")
def check(json_out: bool = opt.JSON) -> None:
    """Check what this host can do (KVM tried with a probe guest, daemons, /dev/kvm,
    nesting, pool space, measured speed), each failing check with its fix. Exit 0 when
    vmctl can run VMs here (TCG counts, with a warning), 7 when it cannot."""
    from vmctl.errors import HostError

    report = api().host_check()
    if json_out:
        emit_json(report.to_dict())
    else:
        for item in report.checks:
            line(f"{item.status.upper():<5} {item.name:<9} {item.detail}")
            if item.fix and item.status != "ok":
                line(f"{'':<15} fix: {item.fix}")
        line(f"guests run under {report.accel}" + (f", {report.slowdown:g}x slower than native"
                                                    if report.slowdown else ""))
    if not report.can_run_vms:
        failed = ", ".join(c.name for c in report.checks if c.status == "fail")
        raise HostError(f"this host cannot run VMs: {failed}", hint="see the fixes above")


@app.command("add")
def add(name: str = typer.Argument(..., help="A name for the host (like a VM name)."),
        uri: str = typer.Argument(..., metavar="URI", help="Its libvirt URI, e.g. qemu+ssh://root@hv1/system."),
        labels: list[str] = typer.Option(None, "--label", metavar="KEY=VALUE", help="A label (repeat for more)."),
        json_out: bool = opt.JSON) -> None:
    """Add a host to the inventory. Only the URI's form is checked (nothing is connected to);
    a URI with a password is refused: use SSH keys."""
    from vmctl.api import parse_labels
    from vmctl.api.hosts import add_host

    entry = add_host(name, uri, parse_labels(labels or []))
    if json_out:
        emit_json(entry.to_dict())
    else:
        line(f"added host {entry.name} ({entry.uri})")


@app.command("rm")
def rm(name: str = typer.Argument(..., help="The host's name in the inventory."),
       json_out: bool = opt.JSON) -> None:
    """Remove a host from the inventory (its VMs and libvirt are not touched)."""
    from vmctl.api.hosts import remove_host

    entry = remove_host(name)
    if json_out:
        emit_json({"removed": entry.name})
    else:
        line(f"removed host {entry.name}")


@app.command("ls")
def ls(json_out: bool = opt.JSON) -> None:
    """List the inventory's hosts (from the file; nothing is connected to)."""
    from vmctl.api.hosts import list_hosts

    inventory = list_hosts()
    if json_out:
        emit_json(inventory.to_dict())
        return
    table(["NAME", "URI", "LABELS", "DRAINED"],
          [(h.name, h.uri, ",".join(f"{k}={v}" for k, v in h.labels) or "-", _yes(h.drained))
           for h in inventory.hosts])


@app.command("stats")
def stats(json_out: bool = opt.JSON) -> None:
    """Every inventory host's CPUs, memory, pool space and VMs, asked in parallel; a host
    that does not answer is one line, never a failure of the whole command."""
    from vmctl.api.hosts import stats_all_hosts
    from vmctl.cli.output import note

    found = stats_all_hosts()
    if json_out:
        emit_json([s.to_dict() for s in found])
        return
    table(["HOST", "ACCEL", "CPUS", "MEMORY FREE", "POOL FREE", "VMS RUNNING", "DRAINED"],
          [(s.host, s.accel, s.cpus, f"{format_size(s.free_memory_mib << 20)} of {format_size(s.memory_mib << 20)}",
            format_size(s.pool_free_bytes) if s.pool_free_bytes is not None else "-", f"{s.vms_running} of {s.vms}",
            _yes(s.drained)) for s in found if s.error is None])
    for s in found:
        if s.error is not None:
            note(f"host {s.host}: unreachable: {s.error}")


@app.command("drain")
def drain(name: str = typer.Argument(..., help="The host's name in the inventory."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan (each VM's destination, or why it "
                                       "stays) and change nothing: not even the drained flag."),
          parallel: int = typer.Option(1, "--parallel", min=1, max=16, metavar="N",
                                       help="Move up to N VMs at once (default 1: one at a time)."),
          copy_storage: bool = typer.Option(False, "--copy-storage", help="Copy the disks of VMs the destination "
                                            "cannot see (as `migrate --copy-storage`); without it such VMs stay."),
          place: str = typer.Option("spread", "--place", metavar="WEIGHER", help="spread (default) or pack."),
          json_out: bool = opt.JSON) -> None:
    """Move every VM off a host of the inventory: marks it drained (placement then skips
    it), plans a destination for each VM by placement, then migrates them (live when
    running, offline when shut off). A VM that cannot move stays where it is, running,
    and the command exits 13. Run it again to continue; `host undrain` clears the flag."""
    from vmctl.api.drain import drain as run_drain
    from vmctl.errors import MigrationFailed

    report = run_drain(name, dry_run=dry_run, parallel=parallel, copy_storage=copy_storage, weigher=place,
                       on_step=None if json_out else _drain_line)
    if json_out:
        emit_json(report.to_dict())
    elif dry_run:
        line(f"dry run: {sum(s.outcome == 'planned' for s in report.steps)} of {len(report.steps)} VM(s) would move "
             f"off {name}; nothing was changed (not even the drained flag)")
    else:
        moved = sum(s.outcome == "moved" for s in report.steps)
        line(f"host {name} is drained: {moved} VM(s) moved, {len(report.stayed)} stayed")
    if report.stayed and not dry_run:
        raise MigrationFailed(f"{len(report.stayed)} VM(s) stayed on {name}: "
                              + "; ".join(f"{s.vm}: {s.reason}" for s in report.stayed),
                              hint=f"fix what is said and run `vmctl host drain {name}` again (it continues)")


def _drain_line(step) -> None:  # DrainStep
    where = f"{step.destination} ({step.mode}, {step.storage} storage)"
    if step.outcome == "planned":
        line(f"plan   {step.vm:<20} {step.state:<9} -> {where}: {step.reason}")
    elif step.outcome == "stays":
        line(f"plan   {step.vm:<20} {step.state:<9} stays: {step.reason}")
    elif step.outcome == "moving":
        line(f"moving {step.vm} -> {step.destination} ...")
    elif step.outcome == "moved":
        line(f"moved  {step.vm} -> {where} in {step.seconds:.1f} s")
    else:
        line(f"FAILED {step.vm} stays on its host: {step.reason}")


@app.command("undrain")
def undrain(name: str = typer.Argument(..., help="The host's name in the inventory."),
            json_out: bool = opt.JSON) -> None:
    """Clear a host's drained flag: placement may choose it again (no VM is moved back)."""
    from vmctl.api.drain import undrain as clear

    entry = clear(name)
    if json_out:
        emit_json(entry.to_dict())
    else:
        line(f"host {entry.name} is no longer drained")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
