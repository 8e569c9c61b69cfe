"""Removing pool volumes safely: never one that a domain on any host vmctl knows of
still uses, never one that is not the volume vmctl recorded (policy.ownership).

Every removal of a volume goes through :func:`check_removable` (a whole set, as
delete and image rm do, refusing before anything changes) or
:func:`remove_volume_safely` (one item, as repair does).

Known hosts (:func:`known_hosts`): this host, the hosts of the lab on this machine
(local.knownhosts), and those the caller names (a migration record's peer that the
user gave, later an inventory). A known host that does not answer is skipped: it
cannot be asked, and refusing every delete while a lab host is down would block
work on this one; the hosts that answered are named in the refusal's context.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from vmctl.errors import Conflict, HostError, NotFound, VmctlError
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.snapshot import parse_snapshot
from vmctl.libvirtxml.storage import VolumeFacts
from vmctl.local.knownhosts import lab_hosts
from vmctl.policy.ownership import Actual, DomainRefs, Expected, describe_users, identity_problem, users
from vmctl.virt import domains, snapshots
from vmctl.virt.host import Host
from vmctl.virt.migrate import host_uuid
from vmctl.spec.volumes import is_image_volume
from vmctl.virt.storage import Pool, find_pool, volume_by_path


@dataclass(frozen=True)
class KnownHost:
    uri: str
    uuid: str = ""   # libvirt host UUID when known before connecting
    label: str = ""  # a name for people (lab1, a URI)
    conn: Host | None = None  # a connection the caller holds already (used, not closed)


def known_hosts(extra: Iterable[str | Host] = ()) -> list[KnownHost]:
    """Hosts besides the one vmctl works on whose domains may use the same storage: the
    lab's, plus ``extra`` (URIs or open connections: given by the user, a migration's
    destination, a record's peer the user confirmed). The one place a later inventory
    adds its hosts."""
    found = [KnownHost(h.uri, h.uuid, h.name) for h in lab_hosts()]
    return found + [KnownHost(h.uri, "", h.uri, h) if isinstance(h, Host) else KnownHost(h, "", h) for h in extra if h]


def domain_refs(host: Host, *, host_id: str, label: str, this_host: bool) -> list[DomainRefs]:
    """Every path each domain on ``host`` names: disks, their backing chains, and its
    snapshots' overlays and saved definitions."""
    refs = []
    for record in domains.list_all(host):
        paths: set[str] = set()
        for xml in (record.xml, *_inactive_xml(host, record.name)):
            paths |= {p for d in parse_domain(xml).disks for p in (d.path, *d.backing) if p}
        for snap_xml in _snapshot_xmls(host, record.name):
            snap = parse_snapshot(snap_xml)
            paths |= set(snap.external_files.values())
            if snap.domain_xml:
                paths |= {p for d in parse_domain(snap.domain_xml).disks for p in (d.path, *d.backing) if p}
        refs.append(DomainRefs(host_id, label, record.name, frozenset(paths), this_host))
    return refs


def all_refs(host: Host, hosts: Sequence[str | Host] = (), *, pool: Pool | None = None) -> list[DomainRefs]:
    """Domain references on this host and on every known host that answers (each host
    once, by its libvirt UUID). With ``pool``: another host's references count only
    if it sees ``pool``'s directory as the same storage (:func:`shares_storage`); a
    host with a private directory at the same path names other files."""
    here = host_uuid(host) or host.uri
    refs = domain_refs(host, host_id=here, label="this host", this_host=True)
    seen = {here}
    for other in known_hosts(hosts):
        if other.uuid and other.uuid in seen:
            continue
        try:
            with nullcontext(other.conn) if other.conn is not None else Host(other.uri) as conn:
                uuid = host_uuid(conn) or other.uri
                if uuid in seen:
                    continue
                seen.add(uuid)
                if pool is not None and not shares_storage(pool, conn):
                    continue
                refs += domain_refs(conn, host_id=uuid, label=other.label or other.uri, this_host=False)
        except HostError:
            continue  # not reachable: it cannot be asked (see the module's docstring)
    return refs


def shares_storage(pool: Pool, other: Host, probes: int = 3) -> bool:
    """Whether ``other`` sees ``pool``'s directory as the same storage: a file of the
    pool has the same change time there (the same inode), preferably an immutable one
    (an image volume: read-only once written). A host that sees none of them has a
    directory of its own at that path. Nothing to compare with counts as sharing: the
    safe side."""
    listing = [v for v in pool.volumes() if v.ctime]
    candidates = [v for v in listing if is_image_volume(v.name)] or listing
    theirs_pool = find_pool(other, pool.name)
    if theirs_pool is not None and theirs_pool.path == pool.path:
        theirs_pool.refresh()  # its listing is a cache: files this host made are unknown to it until then
    for vol in candidates[:probes]:
        theirs = volume_by_path(other, vol.path)
        if theirs is not None and theirs.ctime:
            return theirs.ctime == vol.ctime
    return not candidates


def check_removable(host: Host, pool: Pool, volumes: Sequence[str], *, besides: str | None = None,
                    expect: dict[str, Expected] | None = None, hosts: Sequence[str] = (),
                    what: str = "remove") -> None:
    """Conflict naming every volume of ``volumes`` (names in ``pool``) that another
    domain on a known host uses, that another volume is backed by, or (``expect``)
    that is not the recorded one. ``besides``: the domain being deleted (this host's)."""
    paths = {f"{pool.path}/{v}": v for v in volumes}
    if not paths:
        return
    listing = pool.volumes()
    used = users(paths, all_refs(host, hosts, pool=pool), [(v.name, v.backing_path) for v in listing],
                 besides=besides)
    if used:
        raise Conflict(f"cannot {what}: {describe_users(used)}",
                       hint="delete or flatten what uses those volumes first; nothing was changed")
    facts = {v.name: v for v in listing}
    wrong = [f"{name}: {problem}" for name, exp in sorted((expect or {}).items())
             if name in facts and (problem := identity_problem(exp, actual_of(facts[name]))) is not None]
    if wrong:
        raise Conflict(f"cannot {what}: not the volume vmctl recorded ({'; '.join(wrong)})",
                       hint="vmctl leaves a volume it did not make alone; look at it with `virsh vol-dumpxml`, "
                            "remove it yourself if it is nobody's; nothing was changed")


def remove_volume_safely(host: Host, pool: Pool, name: str, *, expect: Expected | None = None,
                         hosts: Sequence[str] = (), besides: str | None = None) -> bool:
    """Remove volume ``name`` when nothing on a known host uses it and it is the one
    recorded; False when it is already gone; Conflict (nothing removed) otherwise.
    ``hosts``: more hosts to ask; ``besides``: the domain on this host being removed
    with it."""
    return UsageView(host, pool, hosts).remove_volume(name, expect=expect, besides=besides)


class UsageView:
    """Who uses a pool's volumes (domains on this and every known host, volumes backed
    by them), read once and kept current with the removals made through it: a repair
    removes a record's items one by one, and reading every domain on every known host
    again for each volume cost ~30 ms a volume."""

    def __init__(self, host: Host, pool: Pool, hosts: Sequence[str] = ()) -> None:
        self.host, self.pool, self.hosts = host, pool, hosts
        self._refs: list[DomainRefs] | None = None
        self._listing: list[VolumeFacts] | None = None

    @property
    def refs(self) -> list[DomainRefs]:
        if self._refs is None:
            self._refs = all_refs(self.host, self.hosts, pool=self.pool)
        return self._refs

    @property
    def listing(self) -> list[VolumeFacts]:
        if self._listing is None:
            self._listing = self.pool.volumes()
        return self._listing

    def remove_volume(self, name: str, *, expect: Expected | None = None, besides: str | None = None) -> bool:
        """As :func:`remove_volume_safely`."""
        try:
            facts = next((v for v in self.listing if v.name == name), None) or self.pool.volume(name)
        except NotFound:
            return False
        path = f"{self.pool.path}/{name}"
        used = users({path: name}, self.refs, [(v.name, v.backing_path) for v in self.listing], besides=besides)
        if used:
            raise Conflict(f"cannot remove volume {name}: {describe_users(used)}",
                           hint="delete or flatten what uses those volumes first; nothing was changed")
        if expect is not None and (problem := identity_problem(expect, actual_of(facts))) is not None:
            raise Conflict(f"cannot remove volume {name}: not the volume vmctl recorded ({name}: {problem})",
                           hint="vmctl leaves a volume it did not make alone; look at it with `virsh vol-dumpxml`, "
                                "remove it yourself if it is nobody's; nothing was changed")
        try:
            self.pool.delete_volume(name)
        except NotFound:
            return False
        finally:
            self._listing = [v for v in self.listing if v.name != name]
        return True

    def reread(self) -> None:
        """A domain changed what it uses (a disk detached): read the users again when next asked."""
        self._refs = None

    def forget_domain(self, name: str) -> None:
        """This host's domain ``name`` was removed: it uses nothing any more."""
        if self._refs is not None:
            self._refs = [r for r in self._refs if not (r.this_host and r.name == name)]


def actual_of(facts: VolumeFacts) -> Actual:
    return Actual(facts.path, facts.capacity, facts.mtime)


def expected_of(facts: VolumeFacts, *, stamp: bool = False) -> Expected:
    """What to record about a volume vmctl just made (``stamp``: it stays read-only, so
    its mtime is a stamp; see policy.ownership.Expected)."""
    return Expected(facts.path, facts.capacity, facts.mtime if stamp else None)


def _inactive_xml(host: Host, name: str) -> list[str]:
    """The persistent definition too (a running domain's next boot may name other disks)."""
    try:
        dom = domains.lookup(host, name)
        return [dom.xml(inactive=True)] if dom.is_active() else []
    except VmctlError:
        return []


def _snapshot_xmls(host: Host, name: str) -> list[str]:
    try:
        return snapshots.list_xml(domains.lookup(host, name))
    except VmctlError:
        return []  # gone meanwhile, or a driver without snapshots
