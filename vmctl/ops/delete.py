"""Deleting a VM: exactly the volumes vmctl recorded as its own, never one that
anything else still uses, under the name's lock; a half-made VM (an interrupted
create) is cleaned up too."""

from __future__ import annotations

from pathlib import Path

from vmctl.errors import Conflict, NotFound
from vmctl.libvirtxml.facts import DomainFacts, parse_domain
from vmctl.local.testhooks import checkpoint
from vmctl.ops.operation import Operation
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
            if str(Path(d.path).parent) == pool.path and Path(d.path).name.startswith(f"{name}-")
            and ".base." not in d.path]


def users_of(host: Host, pool: Pool, volumes: list[str], *, besides: str) -> dict[str, list[str]]:
    """For each volume, what else uses it: another domain's disk or backing chain, or
    another volume that backs onto it (an overlay, an external snapshot)."""
    paths = {f"{pool.path}/{v}": v for v in volumes}
    used: dict[str, list[str]] = {}
    for record in domains.list_all(host):
        if record.name == besides:
            continue
        for disk in parse_domain(record.xml).disks:
            for path in (disk.path, *disk.backing):
                if path in paths:
                    used.setdefault(paths[path], []).append(f"VM {record.name}")
    for vol in pool.volumes():
        if vol.backing_path in paths and vol.name not in volumes:
            used.setdefault(paths[vol.backing_path], []).append(f"volume {vol.name} (backed by it)")
    return used


def delete_vm(host: Host, pool: Pool, name: str) -> list[str]:
    """Power off, undefine, remove the VM's own volumes; returns their paths. A dead
    operation on the name (say, a killed create) is finished or undone first."""
    with Operation(host, pool, "delete", name, finishes=True) as op:
        repaired = [f"{pool.path}/{o.name}" for o in op.repaired if o.kind == "volume" and o.result == "removed"]
        try:
            dom = domains.lookup(host, name)  # once the lock is held: a repair may have removed it
        except NotFound:
            if op.repaired_record:  # a dead operation's leftovers were the VM: they are gone now
                return repaired
            raise
        facts = parse_domain(dom.xml(inactive=True))
        own = [v for v in own_volumes(facts, pool, name) if pool.has_volume(v)]
        shared = users_of(host, pool, own, besides=name)
        if shared:
            listing = "; ".join(f"{v} is used by {', '.join(u)}" for v, u in sorted(shared.items()))
            raise Conflict(f"cannot delete {name}: {listing}",
                           hint="delete or flatten what uses those volumes first; nothing was changed")
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
    return repaired + [f"{pool.path}/{v}" for v in own]
