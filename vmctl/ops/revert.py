"""Reverting to a snapshot, and what must follow it.

After libvirt's revert the VM is in the requested state; vmctl then puts back the
metadata that must not travel back in time (volume ownership, the list of
snapshots, labels: libvirt restores the definition as it was), sets the guest's clock to
the host's (through the guest agent, else over SSH as root), and, on request,
waits until SSH answers (the endpoint is read again from the reverted definition).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmctl.errors import Conflict, GuestError, Timeout
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.metadata import SURVIVING_REVERT, surviving_revert
from vmctl.libvirtxml.snapshot import parse_snapshot
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.snapshots import StageCallback, stage_teller
from vmctl.ops.vms import update_meta
from vmctl.spec.names import check_name
from vmctl.virt import domains, snapshots
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

if TYPE_CHECKING:
    from vmctl.guest.access import GuestAccess


@dataclass(frozen=True)
class RevertResult:
    vm: str
    snapshot: str
    state: str
    seconds: float           # libvirt's revert
    clock: str               # how the guest clock was set: "agent", "ssh", "" (not running)
    ssh_ready_seconds: float | None = None


def check_revertible(dom: Domain, snap: str) -> None:
    facts = parse_snapshot(snapshots.xml_of(dom, snap))
    if "external" in facts.disks.values():
        raise Conflict(f"snapshot {snap} of {dom.name} is external (disk-only); libvirt 9.0 cannot revert to it",
                       hint="external snapshots serve backups; revert to an internal snapshot")



def revert_unlocked(host: Host, dom: Domain, snap: str, *, state: str = "") -> float:
    """For callers that hold the VM's lock: revert, fix metadata, set the clock."""
    check_revertible(dom, snap)
    before = parse_domain(dom.xml(inactive=True)).meta
    checkpoint("snapshot-revert:checked")
    started = time.monotonic()
    snapshots.revert(dom, snap, state=state)
    seconds = time.monotonic() - started
    after = parse_domain(dom.xml(inactive=True)).meta
    fixed = surviving_revert(before, after)
    if fixed != after:
        update_meta(dom, **{k: getattr(fixed, k) for k in SURVIVING_REVERT})
    return seconds


def set_guest_clock(dom: Domain, access: "GuestAccess", timeout: float | None = None) -> tuple[str, float | None]:
    """The guest's clock to the host's: guest agent if one answers, else `date` over SSH.
    Returns how ("agent", "ssh", or "" when not running or unreachable) and, for "ssh",
    the seconds until SSH answered (the clock set proves it does)."""
    if dom.state() != "running":
        return "", None
    if snapshots.agent_available(dom, timeout=2):
        snapshots.agent_set_time(dom)
        return "agent", None
    started = time.monotonic()
    try:
        ready = access.wait(dom.name, until="ssh", timeout=timeout or 60)
    except (GuestError, Timeout):
        return "", None  # unreachable: reported as not set, the revert itself stands
    answered = time.monotonic() - started
    command = ["date", "-u", "-s", f"@{int(time.time())}"]
    if parse_domain(dom.xml()).meta.ssh_user != "root":
        command = ["sudo", "-n", *command]
    with ready.session as session:
        result = session.run(command, timeout=15)
    return ("ssh", answered) if result.exit_status == 0 else ("", answered)


def revert_snapshot(host: Host, pool: Pool, access: "GuestAccess", name: str, snap: str, *, state: str = "",
                    wait_ssh: bool = False, timeout: float | None = None,
                    on_stage: StageCallback | None = None) -> RevertResult:
    """``on_stage(stage, seconds)`` hears of "locked", "reverted", "clock set" and "ssh ready"."""
    stage = stage_teller(on_stage)
    with Operation(host, pool, "snapshot-revert", check_name(name)):
        stage("locked")
        dom = domains.lookup(host, name)
        seconds = revert_unlocked(host, dom, check_name(snap, "snapshot"), state=state)
        stage("reverted")
    clock, ready = set_guest_clock(dom, access, timeout) if state != "paused" else ("", None)
    if clock:
        stage("clock set")
    ready = ready if wait_ssh else None
    if wait_ssh and ready is None and dom.state() == "running":  # not proven by the clock set
        started = time.monotonic()
        access.wait(name, until="ssh", timeout=timeout).session.close()
        ready = time.monotonic() - started
    if ready is not None:
        stage("ssh ready")
    return RevertResult(name, snap, dom.state(), round(seconds, 3), clock, ready)
