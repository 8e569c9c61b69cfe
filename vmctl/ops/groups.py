"""Group snapshots: several VMs at one instant, all or nothing, under faults too.

The VMs are locked (in name order, so two group operations cannot deadlock) and
every one of them is checked before anything changes (it exists, its state allows
it, the snapshot can be taken or is there to revert to); a refusal names the VM
and leaves all of them as they were.

Create: the running VMs are paused together, each snapshotted with its memory, and
resumed together. A member's snapshot counts as complete (its note) only once
every member has one, so a failure, a signal or a SIGKILL before that leaves no
member with a snapshot of the group: on failure or a signal they are deleted at
once; after a SIGKILL, repair deletes them (the intent records name them).

Revert: each VM goes back to its snapshot of the group, paused, and they are
resumed together, so they go on from the same instant. A revert cannot be undone:
if one member's revert fails, the members already reverted stay reverted, every
member vmctl paused is resumed, and the error says which member is in which state.

Every pause is recorded first (``paused NAME UUID`` in the member's intent record)
and undone in ``finally`` with signals held back; after a SIGKILL, repair resumes
the members still paused by vmctl (:mod:`vmctl.ops.paused`).
"""

from __future__ import annotations

from contextlib import ExitStack

from vmctl.errors import Conflict, InvalidInput, NotFound, OperationFailed, VmctlError
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.snapshot import parse_snapshot
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.paused import resume_paused
from vmctl.ops.revert import check_revertible, revert_unlocked
from vmctl.ops.snapshots import (SnapshotInfo, check_can_snapshot, create_snapshot, drop_note, get_snapshot,
                                 notes_of, plan_disks, set_note)
from vmctl.signals import deferred_signals
from vmctl.spec.names import check_name
from vmctl.virt import domains, snapshots
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

CAN_SNAPSHOT = ("running", "paused", "shut-off")
CAN_REVERT = ("running", "paused", "shut-off", "crashed")


def group_members(host: Host, label: str) -> dict[str, str]:
    """VM name -> its snapshot of group ``label``."""
    members = {}
    for record in domains.list_all(host):
        for name, _consistency, group in parse_domain(record.xml).meta.snapshots:
            if group == label:
                members[record.name] = name
    return members


def create_group(host: Host, pool: Pool, label: str, names: list[str], *, description: str = "") -> list[SnapshotInfo]:
    check_name(label, "group")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"a group snapshot names {', '.join(twice)} more than once",
                           hint="name each VM once: vmctl snapshot create --group LABEL NAME1 NAME2 ...")
    names = sorted(check_name(n) for n in names)
    if len(names) < 2:
        raise InvalidInput("a group snapshot needs at least two VMs", hint="or use `vmctl snapshot create NAME`")
    with ExitStack() as locks:
        ops = {n: locks.enter_context(Operation(host, pool, "snapshot-create", n)) for n in names}
        doms = {n: domains.lookup(host, n) for n in names}
        for name in names:  # before anything changes
            _check_state(doms[name], CAN_SNAPSHOT, "snapshotted")
            check_can_snapshot(doms[name], label, disk_only=False)
            plan_disks(doms[name], disk_only=False, pool=pool, snap=label)
        paused: list[str] = []
        taken: dict[str, str] = {}  # member -> consistency of its (not yet noted) snapshot
        try:
            for name in names:
                if doms[name].state() == "running":
                    ops[name].will("paused", name, doms[name].uuid)  # write-ahead: repair resumes it
                    paused.append(name)
                    snapshots.suspend(doms[name])
            checkpoint("group-snapshot:paused")
            for name in names:
                create_snapshot(host, pool, name, label, description=description, group=label, op=ops[name])
                taken[name] = notes_of(doms[name])[label][0]
                drop_note(doms[name], label)  # incomplete (its record names it) until every member has one
            checkpoint("group-snapshot:taken")
            with deferred_signals():
                for name in names:
                    set_note(doms[name], label, taken[name], label)
        except BaseException as exc:
            with deferred_signals():
                for name in taken:  # all or nothing
                    _forget(doms[name], label)
                stuck = _resume(host, doms, paused, ops)
            if isinstance(exc, VmctlError):
                _explain(exc, f"group snapshot {label} not taken; " + _states(doms, stuck))
            raise
        with deferred_signals():
            stuck = _resume(host, doms, paused, ops)
        if stuck:
            raise OperationFailed(f"group snapshot {label} was taken, but " + _states(doms, stuck),
                                  hint=_resume_hint(stuck))
    return [get_snapshot(host, n, label) for n in names]


def revert_group(host: Host, pool: Pool, label: str) -> dict[str, str]:
    """Revert every VM of the group; returns VM -> snapshot."""
    members = group_members(host, check_name(label, "group"))
    if not members:
        raise NotFound(f"no VM has a snapshot of group {label!r}", hint="see `vmctl snapshot list --group LABEL`")
    names = sorted(members)
    with ExitStack() as locks:
        ops = {n: locks.enter_context(Operation(host, pool, "snapshot-revert", n)) for n in names}
        doms = {n: domains.lookup(host, n) for n in names}
        if group_members(host, label) != members:
            raise Conflict(f"the members of group {label} changed while vmctl locked them", hint="try again")
        then = {}
        for name in names:  # before anything changes
            _check_state(doms[name], CAN_REVERT, "reverted")
            try:
                check_revertible(doms[name], members[name])
            except NotFound:
                raise NotFound(f"{name} has no snapshot {members[name]!r} any more (group {label} is incomplete); "
                               "no member was reverted", hint=f"see `vmctl snapshot list --group {label}`") from None
            then[name] = _state_then(doms[name], members[name])
        was_running = [n for n in names if then[n] in ("running", "paused")]
        paused: list[str] = []
        reverted: list[str] = []
        try:
            for name in names:
                if name in was_running:
                    ops[name].will("paused", name, doms[name].uuid)  # write-ahead: repair resumes it
                    paused.append(name)
                revert_unlocked(host, doms[name], members[name], state="paused" if name in was_running else "")
                reverted.append(name)
            checkpoint("group-revert:reverted")
        except BaseException as exc:
            with deferred_signals():
                stuck = _resume(host, doms, paused, ops)
            if isinstance(exc, VmctlError):
                done = ", ".join(f"{n} reverted" for n in reverted) or "no member reverted"
                _explain(exc, f"group revert {label} stopped ({done}); " + _states(doms, stuck))
            raise
        with deferred_signals():
            stuck = _resume(host, doms, paused, ops)
        if stuck:
            raise OperationFailed(f"group {label} was reverted, but " + _states(doms, stuck), hint=_resume_hint(stuck))
    return members


def _check_state(dom: Domain, allowed: tuple[str, ...], verb: str) -> None:
    state = dom.state()
    if state not in allowed:
        raise Conflict(f"{dom.name} is {state}: a group member can be {verb} only when {', '.join(allowed)}; "
                       "no member was changed", hint=f"see `vmctl info {dom.name}`")


def _forget(dom: Domain, snap: str) -> None:
    try:
        snapshots.delete(dom, snap)
    except NotFound:
        pass
    drop_note(dom, snap)


def _resume(host: Host, doms: dict[str, Domain], paused: list[str], ops: dict[str, Operation]) -> list[str]:
    """Resume every member vmctl paused (each, whatever the others do); returns those still
    paused, whose intent records are then kept so that repair resumes them later."""
    stuck = []
    for name in paused:
        try:
            resume_paused(host, name, doms[name].uuid)
        except VmctlError:
            pass
        try:
            still = doms[name].pause_reason() is not None
        except VmctlError:
            still = False  # gone meanwhile: nothing to resume
        if still:
            stuck.append(name)
            assert ops[name].intent is not None
            ops[name].intent.stop_heartbeat()  # the record stays: `vmctl repair` resumes it
    return stuck


def _states(doms: dict[str, Domain], stuck: list[str]) -> str:
    """What state each member is in now, for the error message."""
    states = []
    for name, dom in sorted(doms.items()):
        try:
            state = dom.state()
        except VmctlError:
            state = "gone"
        states.append(f"{name} {state}" + (" (vmctl could not resume it)" if name in stuck else ""))
    return "members now: " + ", ".join(states)


def _resume_hint(stuck: list[str]) -> str:
    return f"`vmctl repair {stuck[0]}` resumes it" if len(stuck) == 1 else "`vmctl repair` resumes them"


def _explain(exc: VmctlError, what: str) -> None:
    """Add to a member's error what became of the group (same class: same exit code)."""
    exc.message = f"{exc.message}; {what}"
    exc.args = (exc.message,)


def _state_then(dom: Domain, snap: str) -> str:
    """The VM's state when the snapshot was taken."""
    return parse_snapshot(snapshots.xml_of(dom, snap)).state
