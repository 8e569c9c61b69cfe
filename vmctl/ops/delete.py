"""Deleting a VM: exactly the volumes vmctl recorded as its own, never one that
anything else still uses, under the name's lock; a half-made VM (an interrupted
create) is cleaned up too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vmctl.errors import Conflict, NotFound
from vmctl.libvirtxml.facts import DomainFacts, parse_domain
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.volumes import all_refs
from vmctl.policy.ownership import Use, delete_decision, describe_users, kept_disks, users
from vmctl.spec.volumes import is_legacy_vm_volume
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


def own_volumes(facts: DomainFacts, pool: Pool, name: str) -> list[str]:
    """The volume names vmctl made for this VM. VMs of vmctl versions before the
    ownership record carry none: for those, their disks in vmctl's pool named
    ``NAME-...`` (that version's naming) count as theirs."""
    if facts.meta.volumes:
        return list(facts.meta.volumes)
    if not facts.managed:
        return []
    return [Path(d.path).name for d in facts.disks
            if str(Path(d.path).parent) == pool.path and is_legacy_vm_volume(name, Path(d.path).name)]


def users_of(host: Host, pool: Pool, volumes: list[str], *, besides: str,
             hosts: Sequence[str | Host] = ()) -> dict[str, list[Use]]:
    """For each volume, what else uses it: a domain's disk, backing chain or snapshot on
    this host or any known host (ops.volumes.known_hosts), or another volume that
    backs onto it (an overlay, an external snapshot). ``besides``: this host's domain
    being deleted (the same name on another host is another user)."""
    paths = {f"{pool.path}/{v}": v for v in volumes}
    return users(paths, all_refs(host, hosts, pool=pool), [(v.name, v.backing_path) for v in pool.volumes()],
                 besides=besides)


@dataclass(frozen=True)
class Deleted:
    """What a delete removed and (``keep_disks``) kept: volume paths in the pool."""

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def delete_vm(host: Host, pool: Pool, name: str, *, hosts: Sequence[str] = (), keep_shared: bool = True,
              on_note: Callable[[str], None] | None = None) -> list[str]:
    """Power off, undefine, remove the VM's own volumes; returns their paths (see
    :func:`remove_vm`)."""
    return remove_vm(host, pool, name, hosts=hosts, keep_shared=keep_shared, on_note=on_note).removed


def remove_vm(host: Host, pool: Pool, name: str, *, hosts: Sequence[str] = (), keep_shared: bool = True,
              keep_disks: bool = False, on_note: Callable[[str], None] | None = None) -> Deleted:
    """Power off, undefine, remove the VM's own volumes. A dead
    operation on the name (say, a killed create) is finished or undone first.

    Volumes another domain uses are never removed. When only domains on other hosts
    use them (a definition ``migrate --keep-source`` left on shared storage: the guest
    runs on the other host from the same disks), the definition goes and the disks
    stay (``keep_shared``); a user on this host, or an overlay backed by them, makes
    the delete refuse with nothing changed. ``keep_disks``: the VM's disks stay in the
    pool (its CD-ROMs, the seed among them, go; policy.ownership.kept_disks); they are
    never recorded, so a killed delete finishes without them too."""
    with Operation(host, pool, "delete", name, finishes=True) as op:
        repaired = [f"{pool.path}/{o.name}" for o in op.repaired if o.kind == "volume" and o.result == "removed"]
        try:
            dom = domains.lookup(host, name)  # once the lock is held: a repair may have removed it
        except NotFound:
            if op.repaired_record:  # a dead operation's leftovers were the VM: they are gone now
                return Deleted(repaired)
            raise
        facts = parse_domain(dom.xml(inactive=True))
        own = [v for v in own_volumes(facts, pool, name) if pool.has_volume(v)]
        kept = kept_disks(own, {Path(d.path).name for d in facts.disks if d.device == "cdrom"}) if keep_disks else []
        own = [v for v in own if v not in kept]
        shared = users_of(host, pool, own, besides=name, hosts=hosts)
        refuse, elsewhere = delete_decision(shared, keep_shared=keep_shared)
        if refuse:
            raise Conflict(f"cannot delete {name}: {describe_users(refuse)}",
                           hint="delete or flatten what uses those volumes first; nothing was changed")
        if elsewhere:
            own = [v for v in own if v not in elsewhere]
            if on_note is not None:
                on_note(f"kept the volumes other hosts' VMs use: {describe_users(elsewhere)}")
        op.will("domain", name, dom.uuid)
        for volume in own:
            op.will("volume", volume)
        checkpoint("delete:recorded")
        dom.destroy()
        checkpoint("delete:destroyed")
        dom.undefine()
        checkpoint("delete:undefined")
        for volume in own:
            pool.delete_volume(volume)
        checkpoint("delete:volumes")
    return Deleted(repaired + [f"{pool.path}/{v}" for v in own], [f"{pool.path}/{v}" for v in kept])
