"""`vmctl lab up|status|down`: a multi-host libvirt lab on this machine (root only).

The one runtime module that uses the test-support package (``vmctl.testing.lab``);
see docs/lab.md."""

from __future__ import annotations

import time

import typer

from vmctl.cli import options as opt
from vmctl.cli.output import emit_json, line, note, table

app = typer.Typer(help="A lab of libvirt hosts on this machine, for trying migration (needs root).",
                  no_args_is_help=True)


@app.callback()
def lab() -> None:
    """A lab of libvirt hosts on this machine, for trying migration (needs root)."""


def _show(status, json_out: bool, header: str) -> None:
    if json_out:
        emit_json(status.to_dict())
        return
    note(header)
    for host in status.hosts:
        line(f"{host.name}  {host.uri}")
    if status.hosts:
        note(f"storage: pool 'vmctl' is each host's own ({status.local_dir}, a different directory on each); "
             f"pool 'shared' ({status.shared_dir}) is the same on all. Use a host with "
             "`vmctl -c URI ...` (VMCTL_POOL=shared for shared storage).")


@app.command("up")
def up(hosts: int = typer.Option(2, "--hosts", "-n", min=1, max=8, help="How many libvirt hosts."),
       json_out: bool = opt.JSON) -> None:
    """Start N libvirt hosts (own network and mount namespaces, libvirtd, sshd, TLS
    certificates), a private link between them, shared and local storage; print each
    host's URI. Idempotent: a lab that is up is left as it is."""
    from vmctl.testing.lab.cluster import Lab

    started = time.monotonic()
    status = Lab().up(hosts)
    took = time.monotonic() - started
    header = (f"the lab at {status.root} is already up ({len(status.hosts)} hosts)" if status.already
              else f"lab up at {status.root}: {len(status.hosts)} host(s) in {took:.1f} s")
    _show(status, json_out, header)


@app.command("status")
def status(json_out: bool = opt.JSON) -> None:
    """Show the lab's hosts, their URIs and whether their daemons run."""
    from vmctl.testing.lab.cluster import Lab

    current = Lab().status()
    if json_out:
        emit_json(current.to_dict())
        return
    if not current.exists:
        line(f"no lab at {current.root}")
        return
    table(["NAME", "LIBVIRTD", "SSHD", "ADDRESS", "LINK", "URI"],
          [(h.name, "running" if h.libvirtd else "DOWN", "running" if h.sshd else "DOWN", h.address or "-",
            h.link_address, h.uri or "-") for h in current.hosts])
    if not current.up:
        note("the lab is not fully up: `vmctl lab up` makes it again, `vmctl lab down` removes it")


@app.command("down")
def down(json_out: bool = opt.JSON) -> None:
    """Stop and remove everything `lab up` made: guests, daemons, namespaces, the link,
    keys, certificates and files (also after a killed `lab up`)."""
    from vmctl.testing.lab.cluster import Lab

    lab_ = Lab()
    removed = lab_.down()
    if json_out:
        emit_json({"root": str(lab_.root), "removed": removed})
    else:
        line(f"lab down: removed {', '.join(removed)}" if removed else f"no lab at {lab_.root}; nothing to do")
