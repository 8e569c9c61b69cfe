"""The disk-boot variant of the embedded guest, ``tinydisk``: built from the current
tiny build (see ops.tiny) and imported as ``tinydisk-<recipe>``; the description
``tinydisk`` points at the newest build, as ``tiny`` does for tiny's builds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from vmctl.ops.images import ImageStore
from vmctl.progress import Report, texts
from vmctl.ops import tiny
from vmctl.ops.tiny import BOOT_MARKER, ensure_tiny, remove_unused_builds
from vmctl.spec.volumes import build_image_name
from vmctl.spec.image import Image
from vmctl.virt.domains import DomainRecord

TINYDISK = "tinydisk"


def build_name(recipe: str) -> str:
    return build_image_name(TINYDISK, recipe)


def unused_builds(store: ImageStore, domains: list[DomainRecord]) -> list[str]:
    """Retired builds of tinydisk (by recorded recipe id, see ops.tiny.builds_of) no VM uses."""
    return tiny.unused_builds(store, domains, TINYDISK)


def ensure_tinydisk(store: ImageStore, domains: list[DomainRecord], *, cache_root: Path,
                    progress: Report | None = None) -> tuple[Image, bool]:
    """Build (cached) and import the disk-boot guest; returns (image, changed). Builds
    and imports tiny first if it is missing or outdated."""
    from vmctl.tinydisk import build_tinydisk, disk_recipe_id
    from vmctl.tinyguest import build_tiny_guest, recipe_id

    ensure_tiny(store, domains, cache_root=cache_root / "tiny", progress=progress)
    wanted = disk_recipe_id(recipe_id())
    current = store.get(TINYDISK) if store.exists(TINYDISK) else None
    if current is not None and current.recipe_id == wanted:
        return current, False
    name = build_name(wanted)
    if store.exists(name):
        build = store.get(name)
    else:
        tiny = build_tiny_guest(cache_root / "tiny", progress=texts(progress))
        made = build_tinydisk(tiny, cache_root / TINYDISK, progress=texts(progress))
        build = store.import_file(made.path, name=name, fmt="qcow2", default_user="root", boot_marker=BOOT_MARKER,
                                  recipe_id=made.recipe_id, progress=progress)
    image = replace(build, name=TINYDISK)
    store.describe(TINYDISK, image)
    remove_unused_builds(store, domains, TINYDISK)
    return image, True
