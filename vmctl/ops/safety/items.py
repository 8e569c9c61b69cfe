"""The kinds of things an operation records write-ahead, each with its remover: what
repair (and an interrupted ``finishes`` operation) does with one recorded item.

A remover removes its item only if it is still the one recorded and nothing else uses
it, and says what it did as an :class:`ItemOutcome` (never prose for callers to parse).
A new kind gets a remover here, registered with ``@kind("name")``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from vmctl.errors import Conflict, NotFound, VmctlError
from vmctl.ops.volumes import UsageView
from vmctl.spec.intent import Item
from vmctl.spec.volumes import is_partial
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

REMOVED, GONE, KEPT, FINISHED, RESUMED = "removed", "gone", "kept", "finished", "resumed"


@dataclass(frozen=True)
class ItemOutcome:
    kind: str
    name: str
    result: str       # removed, resumed, gone (already), kept (in use / complete / not ours), finished
    reason: str = ""

    def describe(self) -> str:
        text = f"{self.kind} {self.name}"
        if self.result in (REMOVED, RESUMED):
            return text
        return f"{text} {self.result}" + (f" ({self.reason})" if self.reason else "")

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Removal:
    """Where items are removed: the host, its pool, and who uses the pool's volumes (read
    once for all the items of a record, kept current with what is removed)."""

    host: Host
    pool: Pool
    usage: UsageView

    @classmethod
    def on(cls, host: Host, pool: Pool) -> "Removal":
        return cls(host, pool, UsageView(host, pool))


Remover = Callable[[Removal, Item], ItemOutcome]
REMOVERS: dict[str, Remover] = {}


def kind(name: str) -> Callable[[Remover], Remover]:
    def register(func: Remover) -> Remover:
        REMOVERS[name] = func
        return func
    return register


def remove_items(host: Host, pool: Pool, items: Iterable[Item], where: Removal | None = None) -> list[ItemOutcome]:
    """Remove ``items`` in the order given. A volume kept because something used it is
    tried once more at the end: the user may have been an item removed after it (a
    half-made VM's domain, which uses the seed its first boot replaced). ``where``: one
    view of the pool's users shared by several records' removals (a repair pass)."""
    items, where = list(items), where or Removal.on(host, pool)
    outcomes = [remove_item(where, item) for item in items]
    for n, (item, outcome) in enumerate(zip(items, outcomes)):
        if item.kind == "volume" and outcome.result == KEPT:
            outcomes[n] = remove_item(where, item)
    return outcomes


def remove_item(where: Removal, item: Item) -> ItemOutcome:
    """Remove one recorded item if it is still there and still the one recorded."""
    remover = REMOVERS.get(item.kind)
    if remover is None:
        raise VmctlError(f"intent record names an item vmctl cannot remove: {item.kind} {item.name}",
                         hint="a newer vmctl wrote it; repair with that version")
    return remover(where, item)


@kind("volume")
def _volume(where: Removal, item: Item) -> ItemOutcome:
    """Removed only while no domain on any known host uses it (as a disk, in a backing
    chain or a snapshot), e.g. never an external snapshot's overlay the guest now
    writes to (ops.volumes)."""
    try:
        removed = where.usage.remove_volume(item.name)
    except Conflict as exc:
        return ItemOutcome("volume", item.name, KEPT, exc.message)
    return ItemOutcome("volume", item.name, REMOVED if removed else GONE)


@kind("domain")
def _domain(where: Removal, item: Item) -> ItemOutcome:
    try:
        dom = domains.lookup(where.host, item.name)
    except NotFound:
        return ItemOutcome("domain", item.name, GONE)
    if item.uuid and dom.uuid != item.uuid:
        return ItemOutcome("domain", item.name, KEPT, "a later domain of that name")
    dom.destroy()
    dom.undefine()
    where.usage.forget_domain(item.name)
    return ItemOutcome("domain", item.name, REMOVED)


@kind("attachment")
def _attachment(where: Removal, item: Item) -> ItemOutcome:
    """"VM/TARGET": the disk a killed `disk add` attached (or `disk rm` was detaching),
    detached only while it is still the VM's own volume for that target (by path)."""
    from vmctl.ops.disks import detach_own_disk

    vm, _, target = item.name.partition("/")
    try:
        dom = domains.lookup(where.host, vm)
    except NotFound:
        return ItemOutcome("attachment", item.name, GONE)
    if item.uuid and dom.uuid != item.uuid:
        return ItemOutcome("attachment", item.name, KEPT, "a later domain of that name")
    if not detach_own_disk(dom, where.pool, target):
        return ItemOutcome("attachment", item.name, GONE)
    where.usage.reread()
    return ItemOutcome("attachment", item.name, REMOVED)


@kind("partial")
def _partial(where: Removal, item: Item) -> ItemOutcome:
    """A killed backup's unfinished file or directory (on the machine that ran it)."""
    path = Path(item.name)
    if not is_partial(path.name) or path.is_symlink() or not (path.is_dir() or path.is_file()):
        return ItemOutcome("partial", item.name, GONE)
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink()
    return ItemOutcome("partial", item.name, REMOVED)


@kind("snapshot")
def _snapshot(where: Removal, item: Item) -> ItemOutcome:
    """"VM/SNAPSHOT" a killed `snapshot create` named. Noted: it was complete, kept. An
    external one libvirt made: the guest runs on its overlays now, so it is finished
    (noted, overlays recorded as the VM's), never unmade. Else: deleted."""
    from vmctl.libvirtxml.snapshot import parse_snapshot
    from vmctl.ops.snapshots import adopt_external, notes_of
    from vmctl.virt import snapshots

    vm, _, snap = item.name.partition("/")
    try:
        dom = domains.lookup(where.host, vm)
        if snap in notes_of(dom):
            return ItemOutcome("snapshot", item.name, KEPT, "complete")
        xml = next((x for x in snapshots.list_xml(dom) if parse_snapshot(x).name == snap), None)
        if xml is None:
            return ItemOutcome("snapshot", item.name, GONE)
        if "external" in parse_snapshot(xml).disks.values():
            adopt_external(dom, xml)
            return ItemOutcome("snapshot", item.name, FINISHED, "external: the guest writes to its overlays")
        snapshots.delete(dom, snap)
    except NotFound:
        return ItemOutcome("snapshot", item.name, GONE)
    return ItemOutcome("snapshot", item.name, REMOVED)


@kind("paused")
def _paused(where: Removal, item: Item) -> ItemOutcome:
    """A guest a group snapshot or revert paused: resumed if vmctl's pause is still on it."""
    from vmctl.ops.paused import resume_paused

    if resume_paused(where.host, item.name, item.uuid):
        return ItemOutcome("paused", item.name, RESUMED)
    return ItemOutcome("paused", item.name, GONE, "not paused by vmctl any more")
