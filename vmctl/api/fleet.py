"""Actions on the VMs of every inventory host (issue 16 item 4): `exec --all-hosts`.
Plain functions, like :mod:`vmctl.api.hosts`: the inventory belongs to no connection.

The VMs are found as `list --all-hosts` finds them (every host asked in parallel, a host
that does not answer is reported, never fatal); the command then runs on each running
VM that matches, at most ``parallel`` at once, each on its own connection to its host.
Output lines are prefixed ``HOST/VM |`` (stdout) and ``HOST/VM !`` (stderr).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from vmctl.api.hosts import HostListing, list_all_hosts
from vmctl.errors import GUEST_COMMAND_FAILURE_EXIT, InvalidInput

if TYPE_CHECKING:
    from vmctl.ops.fanout import FanOutSummary

__all__ = ["FleetExec", "FleetTarget", "exec_all_hosts", "fleet_targets"]


@dataclass(frozen=True)
class FleetTarget:
    """A running VM on an inventory host; ``key`` (``HOST/VM``) names it in the output."""

    host: str
    uri: str
    vm: str

    @property
    def key(self) -> str:
        return f"{self.host}/{self.vm}"


@dataclass
class FleetExec:
    """`exec --all-hosts`: the hosts that did not answer (host, why) and each VM's outcome
    (``summary``: None when no running VM matched)."""

    unreachable: list[tuple[str, str]] = field(default_factory=list)
    summary: "FanOutSummary | None" = None

    @property
    def exit_status(self) -> int:
        """The first failing VM's status (as `exec` on several VMs); 255 when vmctl or SSH
        failed for a VM, or when a host did not answer (the command did not run there);
        else 0."""
        if self.summary is not None and self.summary.vmctl_failed:
            return GUEST_COMMAND_FAILURE_EXIT
        if self.summary is not None and self.summary.exit_status:
            return self.summary.exit_status
        return GUEST_COMMAND_FAILURE_EXIT if self.unreachable else 0

    def to_dict(self) -> dict[str, object]:
        outcomes = self.summary.outcomes if self.summary is not None else ()
        return {"unreachable": [{"host": h, "error": e} for h, e in self.unreachable],
                "vms": [{"name": o.name, "exit_status": None if o.vmctl_failed else o.exit_status,
                         "vmctl_exit_code": o.exit_status if o.vmctl_failed else None, "error": o.error}
                        for o in outcomes]}


def fleet_targets(listings: Sequence[HostListing]) -> tuple[list[FleetTarget], list[tuple[str, str]]]:
    """(the running VMs, in inventory then name order; the hosts that did not answer)."""
    targets = [FleetTarget(listing.host, listing.uri, vm.name) for listing in listings if listing.error is None
               for vm in sorted(listing.vms, key=lambda v: v.name) if vm.state == "running"]
    return targets, [(listing.host, listing.error) for listing in listings if listing.error is not None]


def exec_all_hosts(argv: list[str], *, labels: Mapping[str, str] | None = None, all_vms: bool = False,
                   write: Callable[[str], None], env: Mapping[str, str] | None = None,
                   timeout: float | None = None, stdin: "bytes | BinaryIO | None" = None, parallel: int = 4,
                   insecure: bool = False, list_timeout: float = 30.0) -> FleetExec:
    """Run ``argv`` on every running VM of every inventory host that carries ``labels``.
    A filter is required: ``labels``, or ``all_vms=True`` to mean every running VM of the
    fleet (so an empty filter never reaches everything by accident). InvalidInput when no
    running VM matches on the hosts that answered; HostError when no host answers."""
    from vmctl.ops.fanout import LineSink, fan_out

    if not labels and not all_vms:
        raise InvalidInput("exec --all-hosts needs a filter: --label KEY=VALUE, or --all for every running VM "
                           "of every host", hint="vmctl exec --all-hosts --label role=web -- uptime")
    targets, unreachable = fleet_targets(list_all_hosts(labels=labels, timeout=list_timeout))
    result = FleetExec(unreachable)
    if not targets:
        down = f" ({', '.join(host for host, _why in unreachable)} did not answer)" if unreachable else ""
        raise InvalidInput("no running VM " + (f"with {dict(labels)} " if labels else "") + f"on the hosts that "
                           f"answered{down}", hint="see `vmctl list --all-hosts`")
    if stdin is not None and not isinstance(stdin, (bytes, bytearray)):
        stdin = stdin.read()
    by_key = {target.key: target for target in targets}

    def action(key: str, sink: LineSink) -> int:
        from vmctl.api import Vmctl

        target = by_key[key]
        with Vmctl(target.uri) as api:
            return api.exec(target.vm, argv, env=env, timeout=timeout, stdin=stdin, insecure=insecure,
                            out=sink.out, err=sink.err)
    result.summary = fan_out(list(by_key), action, parallel=parallel, write=write)
    return result
