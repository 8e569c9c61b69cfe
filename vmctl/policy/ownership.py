"""May vmctl delete these volumes? A pure decision over facts gathered before.

Two questions, both answered before any volume is removed (delete, image rm, the
pruning of retired builds, repair):

1. Does anything else use the volume? Any domain on any host vmctl knows of (this
   host, the lab's hosts, a migration record's peer) whose disks, backing chains or
   snapshots (external overlays, the definition a snapshot keeps) name its path, or
   another volume of the pool that is backed by it. A domain with the same name and
   UUID on another host is another user: that is what ``migrate --keep-source`` on
   shared storage leaves behind, and the guest may run there.
2. Is it the volume that was recorded? Same path, same capacity, and no newer than
   its record (see :class:`Expected`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DomainRefs:
    """The volume paths one domain on one host refers to."""

    host: str            # the host's libvirt UUID (or its URI when the UUID is unknown)
    host_label: str      # how to name the host to a person
    name: str
    paths: frozenset[str]
    this_host: bool = False


@dataclass(frozen=True)
class Use:
    """Something that uses a volume: a VM (``elsewhere``: on another host) or a volume."""

    text: str
    elsewhere: bool = False

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Expected:
    """What was recorded about a volume when vmctl made it.

    ``capacity``: its size in bytes. ``not_after``: the stamp, an upper bound for the
    volume's mtime on its host's clock. libvirt reports no birth time here
    (``<btime>0</btime>``) and ctime moves whenever libvirt chowns a disk for QEMU,
    but the mtime of a volume vmctl keeps read-only (mode 0444: an image's disk,
    kernel, initrd) moves only when its bytes are rewritten. Such volumes are
    uploaded before the description that records them, so each one's mtime is at
    most the description's: a volume put in its place later is newer, and refused."""

    path: str
    capacity: int | None = None
    not_after: float | None = None


@dataclass(frozen=True)
class Actual:
    path: str
    capacity: int
    mtime: float | None = None


def users(volumes: dict[str, str], refs: Iterable[DomainRefs], backed: Iterable[tuple[str, str | None]], *,
          besides: str | None = None) -> dict[str, list[Use]]:
    """For each volume (``volumes``: path -> volume name), who else uses it. ``besides``:
    the domain being removed, on this host only; ``backed``: (volume name, its
    backing path) for the pool's volumes (an overlay's backing is in use)."""
    found: dict[str, list[Use]] = {}
    for ref in refs:
        if ref.this_host and ref.name == besides:
            continue
        where = "" if ref.this_host else f" on {ref.host_label}"
        for path in sorted(ref.paths & volumes.keys()):
            user = Use(f"VM {ref.name}{where}", elsewhere=not ref.this_host)
            if user not in found.get(volumes[path], []):
                found.setdefault(volumes[path], []).append(user)
    names = set(volumes.values())
    for name, backing in backed:
        if backing in volumes and name not in names:
            found.setdefault(volumes[backing], []).append(Use(f"volume {name} (backed by it)"))
    return found


def delete_decision(used: dict[str, list[Use]], *, keep_shared: bool = True
                    ) -> tuple[dict[str, list[Use]], dict[str, list[Use]]]:
    """(refuse, keep) for a VM's delete. Volumes only domains on other hosts use are
    kept while the definition goes (``keep_shared``: the guest of a shared-storage
    ``--keep-source`` migration runs there from them); any user on this host, or a
    volume backed by one of them, refuses the whole delete."""
    elsewhere = {v: u for v, u in used.items() if all(use.elsewhere for use in u)}
    if used and (not keep_shared or elsewhere != used):
        return used, {}
    return {}, elsewhere


def identity_problem(expected: Expected, actual: Actual) -> str | None:
    """Why ``actual`` is not the recorded volume; None when it is."""
    if actual.path != expected.path:
        return f"it is {actual.path}, the record names {expected.path}"
    if expected.capacity is not None and actual.capacity != expected.capacity:
        return f"its size is {actual.capacity} bytes, the record says {expected.capacity}"
    if expected.not_after is not None and actual.mtime is not None and actual.mtime > expected.not_after:
        return "it was written after vmctl recorded it (another volume was put in its place)"
    return None


def describe_users(used: dict[str, list[Use]]) -> str:
    return "; ".join(f"{v} is used by {', '.join(map(str, u))}" for v, u in sorted(used.items()))


def kept_disks(own: list[str], cdroms: set[str]) -> list[str]:
    """The volumes a ``--keep-disks`` delete keeps of a VM's own: every one but those it
    attaches as CD-ROMs (its first-boot seed, which may hold its private host key, and
    other ISOs), so an overlay's backing volume stays with the overlay and a restored
    VM's kernel and initrd stay with its disk."""
    return [volume for volume in own if volume not in cdroms]
