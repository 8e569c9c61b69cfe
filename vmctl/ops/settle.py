"""Settling a migration that did not finish: the guest is left on exactly one host,
running as it was, and the other host keeps nothing of it. Used by a failed
migration itself and by the repair of one whose vmctl died (its intent record).
"""

from __future__ import annotations

from vmctl.errors import NotFound, OperationFailed
from vmctl.ops.intents import read_record, record_volume
from vmctl.policy.migration import Side, settle
from vmctl.spec.intent import MIGRATE_OPS, IntentRecord
from vmctl.spec.uris import display_uri
from vmctl.virt import domains
from vmctl.virt import migrate as vmig
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, find_pool


JOB_END_TIMEOUT = 60.0  # seconds for a dead client's migration job to end (aborted halfway)

def _side(host: Host, name: str, uuid: str) -> tuple[Side, "domains.Domain | None"]:
    for record in domains.list_all(host):
        if record.name == name and record.uuid == uuid:
            return Side(True, record.state, record.persistent), domains.lookup(host, name)
    return Side(False), None


def settle_migration(src: Host, dest: Host, name: str, uuid: str, *, live: bool, copy: bool, keep_source: bool,
                     volumes: list[str], src_pool: Pool | None, dest_pool: Pool | None) -> list[str]:
    """Leave the guest of an unfinished migration on exactly one host, running as it was
    (:func:`vmctl.policy.migration.settle` decides which): the other host's copy, and in
    copy mode its copies of the VM's ``volumes``, are removed. Returns what was done."""
    for host in (src, dest):  # a migration job its dead client left running: let it end (or end it)
        if (dom := _side(host, name, uuid)[1]) is not None and not vmig.wait_for_no_job(
                dom, JOB_END_TIMEOUT, abort_after=JOB_END_TIMEOUT / 2):
            raise OperationFailed(f"{name} still runs a job on {display_uri(host.uri)} that libvirt does not end",
                                  hint=f"try `vmctl repair {name}` again later; see `virsh domjobinfo {name}`")
    (src_side, src_dom), (dest_side, dest_dom) = _side(src, name, uuid), _side(dest, name, uuid)
    plan = settle(src_side, dest_side, live=live)
    done = [f"keep {name} on the {plan.keep} ({plan.reason})"]
    if plan.keep == "destination" and dest_dom is not None:
        if plan.persist:
            domains.define(dest, dest_dom.xml(inactive=True))
            done.append("define it on the destination")
        if plan.resume:
            dest_dom.resume()
            done.append("resume it on the destination")
        if src_dom is not None:
            src_dom.destroy()
            if not keep_source and src_side.persistent:
                src_dom.undefine()
            done.append("stop it on the source" + ("" if keep_source else " and undefine it there"))
        other_pool = None if keep_source else src_pool
    elif plan.keep == "source" and src_dom is not None:
        if dest_dom is not None:
            dest_dom.destroy()
            if dest_side.persistent:
                dest_dom.undefine()
            done.append("remove it from the destination")
        if plan.resume:
            src_dom.resume()
            done.append("resume it on the source")
        other_pool = dest_pool
    else:
        return done
    if copy and other_pool is not None:
        other_pool.refresh()
        for volume in volumes:
            if other_pool.has_volume(volume):
                other_pool.delete_volume(volume)
                done.append(f"volume {volume} on the {'source' if other_pool is src_pool else 'destination'}")
    return done


def repair_migration(host: Host, pool: Pool, record: IntentRecord) -> list[str]:
    """A migration whose vmctl died: reach the other host (named in the record), settle
    the guest on one of them, and drop both hosts' records. If the other host cannot be
    reached, nothing is decided and the record stays (VmctlError)."""
    data = record.data
    peer = Host(data["peer"])
    try:
        peer_pool = find_pool(peer, data.get("pool", pool.name))
        source_side = data.get("role") == "source"
        src, dest = (host, peer) if source_side else (peer, host)
        src_pool, dest_pool = (pool, peer_pool) if source_side else (peer_pool, pool)
        done = settle_migration(src, dest, record.target, data["uuid"], live=data.get("mode") == "live",
                                copy=data.get("storage") == "copy", keep_source=data.get("keep_source") == "1",
                                volumes=[v for v in data.get("volumes", "").split(",") if v],
                                src_pool=src_pool, dest_pool=dest_pool)
        if data.get("snapshots"):  # lifted off the source before it died: back where the guest runs
            from vmctl.ops.carry import put_back_where_it_runs

            if put_back_where_it_runs(src, dest, src_pool, record.target):
                done.append(f"snapshots of {record.target} redefined where it runs")
        if peer_pool is not None and data.get("storage") != "shared":  # shared: one record, seen by both
            theirs = read_record(peer_pool, record.target)
            if theirs is not None and theirs.op in MIGRATE_OPS and theirs.owner == record.owner:
                peer_pool.delete_volume(record_volume(record.target))
    finally:
        peer.close()
    try:
        pool.delete_volume(record_volume(record.target))
    except NotFound:
        pass
    return done
