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
    table(["NAME", "URI", "LABELS"], [(h.name, h.uri, ",".join(f"{k}={v}" for k, v in h.labels) or "-")
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
    table(["HOST", "ACCEL", "CPUS", "MEMORY FREE", "POOL FREE", "VMS RUNNING"],
          [(s.host, s.accel, s.cpus, f"{format_size(s.free_memory_mib << 20)} of {format_size(s.memory_mib << 20)}",
            format_size(s.pool_free_bytes) if s.pool_free_bytes is not None else "-", f"{s.vms_running} of {s.vms}")
           for s in found if s.error is None])
    for s in found:
        if s.error is not None:
            note(f"host {s.host}: unreachable: {s.error}")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
