"""Use cases of the hosts inventory: add, remove, list, and resolve a name to its URI.
None of them connects to libvirt: ``host add`` checks the URI's form only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vmctl.local.inventory import inventory_path, read_inventory, update_inventory
from vmctl.spec.hosts import HostEntry, find_entry, make_entry, with_drained, with_entry, without_entry


@dataclass(frozen=True)
class Inventory:
    """The inventory file and its entries, in the file's order."""

    path: Path
    hosts: tuple[HostEntry, ...]

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "hosts": [h.to_dict() for h in self.hosts]}


def list_hosts() -> Inventory:
    path = inventory_path()
    return Inventory(path, read_inventory(path))


def add_host(name: str, uri: str, labels: Mapping[str, str] | None = None) -> HostEntry:
    """Add ``name`` (Conflict if taken; InvalidInput for a bad name, URI or label)."""
    entry = make_entry(name, uri, labels)  # checked before the file is locked or made
    update_inventory(inventory_path(), lambda entries: with_entry(entries, entry))
    return entry


def remove_host(name: str) -> HostEntry:
    """Remove ``name`` (NotFound listing the known names)."""
    path = inventory_path()
    removed: list[HostEntry] = []

    def change(entries: tuple[HostEntry, ...]) -> tuple[HostEntry, ...]:
        rest, gone = without_entry(entries, name, str(path))
        removed.append(gone)
        return rest
    update_inventory(path, change)
    return removed[0]


def host_uri(name: str) -> str:
    """The URI of the inventory's host ``name`` (NotFound listing the known names)."""
    path = inventory_path()
    return find_entry(read_inventory(path), name, str(path)).uri


def set_drained(name: str, drained: bool) -> HostEntry:
    """Mark host ``name`` drained (placement skips it) or not; NotFound listing the known names."""
    path = inventory_path()
    entries = update_inventory(path, lambda entries: with_drained(entries, name, drained, str(path)))
    return find_entry(entries, name, str(path))


def find_host(name: str) -> HostEntry:
    """The inventory's entry ``name`` (NotFound listing the known names)."""
    path = inventory_path()
    return find_entry(read_inventory(path), name, str(path))
