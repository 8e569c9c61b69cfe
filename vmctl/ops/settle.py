"""Settling a migration that did not finish: the guest is left on exactly one host,
running as it was, and the other host keeps nothing of it. Used by a failed
migration itself and by the repair of one whose vmctl died (its intent record).

The repair reads the record's :class:`~vmctl.spec.migration_record.MigrationSpec`,
finds which side the host it runs on is by libvirt host UUID (never by position),
reaches the other host only through a URI the user gave or a known host's
(:mod:`vmctl.policy.peers`), checks that host's UUID too, and refuses, changing
nothing, when any of that cannot be told. Settling is idempotent: a second one
(another repair, from the other host, at the same time or later) finds nothing
left to do and does no harm.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from vmctl.errors import Conflict, NotFound, OperationFailed, VmctlError
from vmctl.local.knownhosts import known_host_uris
from vmctl.ops.safety.intents import delete_if_same, read_record, record_volume
from vmctl.policy.migration import Side, role_of, settle
from vmctl.policy.peers import choose_peer
from vmctl.spec.intent import MIGRATE_OPS, IntentRecord
from vmctl.spec.migration_record import MigrationSpec
from vmctl.spec.uris import display_uri
from vmctl.virt import domains
from vmctl.virt import migrate as vmig
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, find_pool

JOB_END_TIMEOUT = 60.0  # seconds for a dead client's migration job to end (aborted halfway)
POSTCOPY_JOB_WAIT = 20.0  # ... for a post-copy one (never aborted: there is no going back)
# vmctl's volume list of a definition that owns none (a --keep-source definition on shared
# storage: its disks are the destination's): no volume has an empty name, so `delete` removes none.
OWNS_NO_VOLUMES = ("",)

# URIs the user gave this command (``--peer``; ``-c``, a migration's destination): a repair may
# reach the other host through them (vmctl.policy.peers). Set with :func:`peers_given`.
_explicit_peer: ContextVar[str | None] = ContextVar("vmctl_explicit_peer", default=None)
_given_uris: ContextVar[tuple[str, ...]] = ContextVar("vmctl_given_uris", default=())


@contextmanager
def peers_given(peer: str | None = None, given: Iterable[str] = ()) -> Iterator[None]:
    """Within: repairs of migrations may reach ``peer`` (``--peer``) and ``given`` URIs."""
    t1, t2 = _explicit_peer.set(peer), _given_uris.set(tuple(given))
    try:
        yield
    finally:
        _explicit_peer.reset(t1)
        _given_uris.reset(t2)


@dataclass(frozen=True)
class Settled:
    """Where the guest stays ("source", "destination", "none") and what was done."""

    keep: str
    done: list[str] = field(default_factory=list)


def _side(host: Host, name: str, uuid: str) -> tuple[Side, "domains.Domain | None"]:
    for record in domains.list_all(host):
        if record.name == name and record.uuid == uuid:
            return Side(True, record.state, record.persistent), domains.lookup(host, name)
    return Side(False), None


def _quietly(action, *args: object) -> None:
    """A step another settle (the other host's repair) may have done meanwhile."""
    try:
        action(*args)
    except NotFound:
        pass


def disown_volumes(dom: "domains.Domain") -> None:
    """Make a kept source definition own no volumes (its disks are the destination's now)."""
    from vmctl.ops.vms import update_meta

    update_meta(dom, volumes=OWNS_NO_VOLUMES)


def settle_migration(src: Host, dest: Host, name: str, spec: MigrationSpec, *, src_pool: Pool | None,
                     dest_pool: Pool | None) -> Settled:
    """Leave the guest of an unfinished migration on exactly one host, running as it was
    (:func:`vmctl.policy.migration.settle` decides which): the other host's copy, and in
    copy mode its copies of the VM's volumes, are removed. Once post-copy was recorded
    the source is never resumed and the destination never removed; a post-copy the
    destination does not run yet raises OperationFailed and changes nothing."""
    uuid = spec.uuid
    wait = POSTCOPY_JOB_WAIT if spec.postcopy else JOB_END_TIMEOUT
    for host in (src, dest):  # a migration job its dead client left running: let it end (or end it)
        abort_after = float("inf") if spec.postcopy else JOB_END_TIMEOUT / 2
        if (dom := _side(host, name, uuid)[1]) is not None and not vmig.wait_for_no_job(dom, wait,
                                                                                       abort_after=abort_after):
            raise OperationFailed(f"{name} still runs a job on {display_uri(host.uri)} that libvirt does not end",
                                  hint=f"try `vmctl repair {name}` again later; see `virsh domjobinfo {name}`")
    (src_side, src_dom), (dest_side, dest_dom) = _side(src, name, uuid), _side(dest, name, uuid)
    plan = settle(src_side, dest_side, live=spec.live, postcopy=spec.postcopy)
    if plan.wait:
        raise OperationFailed(f"{name}: {plan.reason}",
                              hint="wait for the post-copy migration to end (`virsh domjobinfo` on both hosts; a "
                                   "broken one can be resumed with `virsh migrate --postcopy-resume`), then run "
                                   f"`vmctl repair {name}` again; the record stays")
    done = [f"keep {name} on the {plan.keep} ({plan.reason})"]
    shared_keep = spec.keep_source and not spec.copy
    if plan.keep == "destination" and dest_dom is not None:
        if plan.persist:
            domains.define(dest, dest_dom.xml(inactive=True))
            done.append("define it on the destination")
        if plan.resume:
            _resume(dest_dom)
            done.append("resume it on the destination")
        if src_dom is not None:
            _quietly(src_dom.destroy)
            if not spec.keep_source and src_side.persistent:
                _quietly(src_dom.undefine)
            done.append("stop it on the source" + ("" if spec.keep_source else " and undefine it there"))
        if shared_keep and src_side.persistent and src_dom is not None:
            disown_volumes(src_dom)  # its disks are the destination's: `delete` of it must not remove them
            done.append("the source's kept definition owns no volumes")
        other_pool = None if spec.keep_source else src_pool
    elif plan.keep == "source" and src_dom is not None:
        if dest_dom is not None:
            _quietly(dest_dom.destroy)
            if dest_side.persistent:
                _quietly(dest_dom.undefine)
            done.append("remove it from the destination")
        if plan.resume:
            _resume(src_dom)
            done.append("resume it on the source")
        other_pool = dest_pool
    else:
        return Settled("none", done)
    if spec.copy and other_pool is not None:
        side = "source" if other_pool is src_pool else "destination"
        removed, kept = remove_unused_volumes(src if side == "source" else dest, other_pool, spec.volumes)
        done += [f"volume {volume} on the {side}" for volume in removed]
        done += [f"kept volume {volume} on the {side}: {why}" for volume, why in kept.items()]
    return Settled(plan.keep, done)


def remove_unused_volumes(host: Host, pool: Pool, volumes: Iterable[str]) -> tuple[list[str], dict[str, str]]:
    """Remove the migration's copies of ``volumes`` from ``host``'s pool, except those a
    domain there still uses (or that back another volume). Returns (removed, kept: why)."""
    from vmctl.ops.delete import users_of

    pool.refresh()
    present = [v for v in volumes if v and pool.has_volume(v)]
    users = users_of(host, pool, present, besides="")
    removed = []
    for volume in present:
        if volume not in users:
            _quietly(pool.delete_volume, volume)
            removed.append(volume)
    return removed, {v: f"used by {', '.join(map(str, u))}" for v, u in users.items()}


def _resume(dom: "domains.Domain") -> None:
    try:
        dom.resume()
    except VmctlError:
        if dom.state() != "running":  # else: resumed meanwhile by another settle
            raise


def spec_of(record: IntentRecord) -> MigrationSpec:
    try:
        return MigrationSpec.from_data(record.data)
    except ValueError as exc:
        raise Conflict(f"cannot settle the migration of {record.target}: {exc}",
                       hint=f"see `virsh list --all` on both hosts and settle it by hand, then remove "
                            f"{record_volume(record.target)}; nothing was changed") from None


def repair_migration(host: Host, pool: Pool, record: IntentRecord) -> list[str]:
    """A migration whose vmctl died: find this host's side by host UUID, reach the
    other host (only through a trusted URI, whose host UUID must be the recorded one),
    settle the guest on one of them, and drop the other host's record (the caller,
    holding this record's claim, drops this one). If anything of that cannot be done,
    nothing is decided and the record stays (VmctlError)."""
    spec, name = spec_of(record), record.target
    role = role_of(spec, vmig.host_uuid(host), name=name)
    other = spec.host("destination" if role == "source" else "source")
    uri = choose_peer(other.uri, explicit=_explicit_peer.get(), given=[host.uri, *_given_uris.get()],
                      known=known_host_uris(), name=name)
    peer = Host(uri)
    try:
        if (theirs_uuid := vmig.host_uuid(peer)) != other.uuid:
            raise Conflict(f"{display_uri(uri)} is not the {'destination' if role == 'source' else 'source'} of the "
                           f"migration of {name}: its host UUID is {theirs_uuid}, the record names {other.uuid}",
                           hint=f"give the right host with `vmctl repair {name} --peer URI`; nothing was changed")
        peer_pool = find_pool(peer, spec.pool)
        src, dest = (host, peer) if role == "source" else (peer, host)
        src_pool, dest_pool = (pool, peer_pool) if role == "source" else (peer_pool, pool)
        done = settle_migration(src, dest, name, spec, src_pool=src_pool, dest_pool=dest_pool).done
        if spec.snapshots:  # lifted off the source before it died: back where the guest runs
            from vmctl.ops.carry import put_back_where_it_runs

            if put_back_where_it_runs(src, dest, src_pool, name):
                done.append(f"snapshots of {name} redefined where it runs")
        if peer_pool is not None and spec.copy:  # shared: one record, seen by both
            theirs = read_record(peer_pool, name)
            if theirs is not None and theirs.op in MIGRATE_OPS and theirs.owner == record.owner:
                delete_if_same(peer_pool, record_volume(name), name, theirs)
    finally:
        peer.close()
    return done  # this host's record: dropped by the repair that holds its claim (ops.safety.repair)
