"""Build the tiny guest once per recipe and keep it in a cache directory."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import OperationFailed
from vmctl.tinyguest import debs, images, kernelimage, kmods, layout, recipe
from vmctl.tinyguest.hosttools import require_tools

KERNEL_NAME = "vmlinux"  # uncompressed ELF with a PVH entry, or the bzImage itself
INITRD_NAME = "initrd.img"
ROOTFS_NAME = "rootfs.qcow2"
MANIFEST_NAME = "manifest.json"
DONE_NAME = "done"
HOST_TOOLS = ("apt-get", "apt-cache", "dpkg-deb", "tar", "modinfo", "cpio", "mkfs.ext4", "qemu-img")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TinyGuest:
    """A built tiny guest: direct-boot kernel, initramfs and a qcow2 ext4 root."""

    recipe_id: str
    kernel: Path
    initrd: Path
    rootfs: Path
    cmdline: str


def recipe_id() -> str:
    """The id of the current recipe (see :mod:`vmctl.tinyguest.recipe`)."""
    return recipe.recipe_id()


def _guest(directory: Path, rid: str) -> TinyGuest:
    return TinyGuest(
        recipe_id=rid,
        kernel=directory / KERNEL_NAME,
        initrd=directory / INITRD_NAME,
        rootfs=directory / ROOTFS_NAME,
        cmdline=recipe.CMDLINE,
    )


def cached_tiny_guest(cache_root: Path) -> TinyGuest | None:
    """The guest for the current recipe if it is complete in the cache, else None."""
    rid = recipe.recipe_id()
    directory = Path(cache_root) / rid
    return _guest(directory, rid) if (directory / DONE_NAME).is_file() else None


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive flock on ``directory`` (no lock file is left behind)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def build_tiny_guest(cache_root: Path, *, progress: Progress | None = None) -> TinyGuest:
    """Return the tiny guest for the current recipe, building it if not cached."""
    cached = cached_tiny_guest(cache_root)
    if cached is not None:
        return cached
    say = progress or (lambda _msg: None)
    cache_root = Path(cache_root)
    rid = recipe.recipe_id()
    final = cache_root / rid
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OperationFailed(f"cannot create the guest cache {cache_root}: {exc.strerror}") from exc
    with _locked(cache_root):
        if (final / DONE_NAME).is_file():  # another process built it meanwhile
            return _guest(final, rid)
        if final.exists():  # an incomplete leftover from an older vmctl
            shutil.rmtree(final)
        for stale in cache_root.glob(".*.build-*"):  # from a killed build
            shutil.rmtree(stale, ignore_errors=True)
        require_tools(*HOST_TOOLS)
        staging = Path(tempfile.mkdtemp(prefix=f".{rid}.build-", dir=cache_root))
        try:
            _build_into(staging, rid, say)
            os.chmod(staging, 0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        prune_other_recipes(cache_root, keep=rid)
    say(f"tiny guest {rid} ready in {final}")
    return _guest(final, rid)


def prune_other_recipes(cache_root: Path, *, keep: str) -> list[str]:
    """Remove cached builds of other recipes. Safe: VM disks never back onto the
    cache (images are copied into the storage pool), so only the current build
    is worth keeping. Returns the recipe ids removed."""
    removed = []
    for entry in Path(cache_root).iterdir():
        if entry.is_dir() and entry.name != keep and re.fullmatch(r"[0-9a-f]{16}", entry.name):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry.name)
    return sorted(removed)


def _build_into(out: Path, rid: str, say: Progress) -> None:
    """Build every artefact into ``out``; the ``done`` marker is written last."""
    started = time.monotonic()
    work = out / "work"
    for d in ("debs", "pkgs", "kernel", "initramfs", "rootfs"):
        (work / d).mkdir(parents=True)

    say(f"resolving {recipe.KERNEL_META_PACKAGE}")
    kernel_pkg = debs.resolve_kernel_package(recipe.KERNEL_META_PACKAGE)
    say(f"downloading {kernel_pkg} and {len(recipe.PACKAGES)} packages")
    fetched = debs.download([kernel_pkg, *recipe.PACKAGES], work / "debs")
    versions = {name: debs.deb_field(deb, "Version") for name, deb in sorted(fetched.items())}

    say("unpacking packages")
    for name in recipe.PACKAGES:
        debs.unpack(fetched[name], work / "pkgs")
    modules, kernel_release = _unpack_kernel(fetched[kernel_pkg], work / "kernel")

    say("building the initramfs")
    layout.populate_initramfs(
        work / "initramfs",
        work / "pkgs/bin/busybox",
        recipe.FILES_DIR / "initramfs/init",
        modules,
    )
    images.make_initramfs(work / "initramfs", out / INITRD_NAME)
    bzimage = work / f"kernel/boot/vmlinuz-{kernel_release}"
    if kernelimage.extract_pvh_kernel(bzimage, out / KERNEL_NAME):
        kernel_format = "elf-pvh"
    else:
        shutil.copy2(bzimage, out / KERNEL_NAME)
        kernel_format = "bzimage"

    say("building the root filesystem")
    layout.populate_rootfs(work / "rootfs", work / "pkgs", recipe.ROOTFS_BINARIES, recipe.FILES_DIR / "rootfs")
    images.make_rootfs(
        work / "rootfs", out / ROOTFS_NAME, size_mib=recipe.ROOTFS_SIZE_MIB, label=recipe.ROOTFS_LABEL
    )
    shutil.rmtree(work)

    manifest = {
        "recipe_id": rid,
        "kernel_release": kernel_release,
        "kernel_format": kernel_format,
        "cmdline": recipe.CMDLINE,
        "packages": versions,
        "modules": [name for name, _ in modules],
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    for name in (KERNEL_NAME, INITRD_NAME, ROOTFS_NAME, MANIFEST_NAME):
        os.chmod(out / name, 0o644)
    (out / DONE_NAME).write_text(rid + "\n")


def _unpack_kernel(deb: Path, dest: Path) -> tuple[list[tuple[str, Path]], str]:
    """Extract vmlinuz and the needed modules; return (ordered modules, release)."""
    debs.extract(
        deb,
        dest,
        [
            "./boot/vmlinuz-*",
            "./lib/modules/*/modules.order",
            "./lib/modules/*/modules.builtin",
            *(kmods.member_pattern(m) for m in recipe.MODULES),
        ],
    )
    releases = sorted(p.name for p in (dest / "lib/modules").glob("*") if p.is_dir())
    if len(releases) != 1 or not (dest / f"boot/vmlinuz-{releases[0]}").is_file():
        raise OperationFailed(f"unexpected layout of kernel package {deb.name}: {releases}")
    modules_dir = dest / "lib/modules" / releases[0]
    order = kmods.index(modules_dir, "modules.order")

    def fetch(names: list[str]) -> None:
        missing = [n for n in names if not (modules_dir / order[n]).is_file()]
        if missing:
            debs.extract(deb, dest, [kmods.member_pattern(n) for n in missing])

    return kmods.resolve(recipe.MODULES, modules_dir, fetch), releases[0]
