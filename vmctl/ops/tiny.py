"""The embedded guest ``tiny``: built from Debian packages (cached by recipe id) and
imported as ``tiny-<recipe>``; the description ``tiny`` points at the newest build.

A new recipe installs next to the old build: VMs made from an old build keep their
disks' backing file and kernel (their domains name the volumes by path), so they
keep working. A build no VM uses any more is removed right away, or later by
``vmctl image build tiny``, ``vmctl image rm tiny-<recipe>`` or ``vmctl repair``.
Builds are recognised by the recipe id their description records, never by the
``tiny-`` prefix alone: a user's image ``tiny-debian`` is not a build.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vmctl.errors import Conflict, NotFound, VmctlError
from vmctl.ops.images import ImageStore
from vmctl.progress import Report, texts
from vmctl.spec.image import TINY, Image
from vmctl.spec.volumes import build_image_name, is_build_of
from vmctl.virt.domains import DomainRecord

BOOT_MARKER = r"vmctl-guest: boot-finished"


def build_name(recipe: str) -> str:
    return build_image_name(TINY, recipe)


def builds_of(store: ImageStore, kind: str) -> list[str]:
    """The images that are builds of ``kind`` (tiny, tinydisk): recognised by the recipe
    id their description records, which `vmctl image import` never writes, so a
    user's ``tiny-debian`` is never taken for one. A description that cannot be read
    is nobody's build."""
    found = []
    for name in store.names():
        if not name.startswith(f"{kind}-"):
            continue
        try:
            image = store.get(name)
        except (VmctlError, ValueError, TypeError):
            continue
        if is_build_of(kind, image.name, image.recipe_id) and name == image.name:
            found.append(name)
    return found


def retired_builds(store: ImageStore, kind: str = TINY) -> list[str]:
    """Builds of ``kind`` other than the one its description (``tiny``) points at."""
    current = store.get(kind).recipe_id if store.exists(kind) else ""
    return [n for n in builds_of(store, kind) if not (current and n == build_image_name(kind, current))]


def unused_builds(store: ImageStore, domains: list[DomainRecord], kind: str = TINY) -> list[str]:
    """Retired builds of ``kind`` that no VM (of ``domains``) uses."""
    return [name for name in retired_builds(store, kind) if not store.users(store.get(name), domains)]


def remove_unused_builds(store: ImageStore, domains: list[DomainRecord], kind: str = TINY) -> list[str]:
    """Remove the retired builds no VM uses; returns those removed. One that a VM on
    another known host uses, or whose volumes are not the recorded ones, stays."""
    removed = []
    for name in unused_builds(store, domains, kind):
        try:
            store.remove(name, domains)
        except (Conflict, NotFound):
            continue
        removed.append(name)
    return removed


def ensure_tiny(store: ImageStore, domains: list[DomainRecord], *, cache_root: Path,
                progress: Report | None = None) -> tuple[Image, bool]:
    """Build (cached) and import the embedded guest; returns (image, changed)."""
    from vmctl.tinyguest import build_tiny_guest, recipe_id  # heavy and rarely needed

    wanted = recipe_id()
    current = store.get(TINY) if store.exists(TINY) else None
    if current is not None and current.recipe_id == wanted:
        remove_unused_builds(store, domains)  # builds an earlier run left (a VM used them then)
        return current, False
    if current is not None and not store.exists(build_name(current.recipe_id or "unknown")):
        # A build from before versioned names: keep a description of it under its own name.
        store.describe(build_name(current.recipe_id or "unknown"), replace(current, name=build_name(current.recipe_id)))
    name = build_name(wanted)
    if store.exists(name):
        build = store.get(name)
    else:
        guest = build_tiny_guest(cache_root, progress=texts(progress))
        build = store.import_file(
            guest.rootfs, name=name, fmt="qcow2", default_user="root", boot_marker=BOOT_MARKER,
            direct=(guest.kernel, guest.initrd, guest.cmdline), recipe_id=guest.recipe_id, progress=progress)
    image = replace(build, name=TINY)
    store.describe(TINY, image)
    remove_unused_builds(store, domains)
    return image, True
