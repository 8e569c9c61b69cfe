"""The image catalogue: read-only base images kept as volumes in vmctl's pool.

An image NAME is a set of volumes: ``NAME.base.qcow2`` (or ``.raw``), for direct
kernel boot ``NAME.base.vmlinuz`` and ``NAME.base.initrd``, and ``NAME.base.json``
with its description, written last so a half-imported image is never listed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from vmctl.local import diskimage
from vmctl.errors import Conflict, InsufficientResources, InvalidInput, NotFound
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.spec.image import CLOUD_INIT_MARKER, TINY, Image
from vmctl.spec.names import check_name
from vmctl.spec.units import format_size
from vmctl.virt.domains import DomainRecord
from vmctl.virt.storage import Pool

BASE = ".base"


def volume_name(image: str, suffix: str) -> str:
    return f"{image}{BASE}.{suffix}"


class ImageStore:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def list(self) -> list[Image]:
        suffix = f"{BASE}.json"
        names = sorted(v.name[: -len(suffix)] for v in self.pool.volumes() if v.name.endswith(suffix))
        return [self.get(n) for n in names]

    def get(self, name: str) -> Image:
        check_name(name, "image")
        try:
            raw = self.pool.download(volume_name(name, "json"))
        except NotFound:
            hint = "build it with `vmctl image build tiny`" if name == TINY else "see `vmctl image list`"
            raise NotFound(f"no image named {name!r}", hint=hint) from None
        return Image.from_dict(json.loads(raw))

    def exists(self, name: str) -> bool:
        return self.pool.has_volume(volume_name(name, "json"))

    def users(self, image: Image, domains: list[DomainRecord]) -> list[str]:
        """VMs whose disks are backed by ``image`` or that boot its kernel."""
        backed = {v.path for v in self.pool.volumes() if v.backing_path == image.path}
        own = {image.path, image.kernel, image.initrd} - {""}
        users = []
        for record in domains:
            facts = parse_domain(record.xml)
            paths = {d.path for d in facts.disks}
            boots_kernel = bool(image.kernel) and image.kernel in record.xml
            if paths & (backed | own) or facts.meta.image == image.name or boots_kernel:
                users.append(record.name)
        return users

    def import_file(
        self,
        path: Path,
        *,
        name: str | None = None,
        fmt: str | None = None,
        default_user: str = "",
        boot_marker: str = CLOUD_INIT_MARKER,
        direct: tuple[Path, Path, str] | None = None,
        recipe_id: str = "",
    ) -> Image:
        """Copy an image file into the pool as a read-only base; all or nothing."""
        name = check_name(name or _name_from_path(path), "image")
        if default_user:
            check_name(default_user, "user")
        info = diskimage.inspect(path, fmt)
        if self.exists(name):
            raise Conflict(f"an image named {name!r} already exists", hint="pick --name or `vmctl image rm` it")
        extra = sum(p.stat().st_size for p in direct[:2]) if direct else 0
        self._check_space(path.stat().st_size + extra, f"image {name}")
        with ExitStack() as undo:
            disk = self._upload(undo, volume_name(name, info.format), path, info.format, info.virtual_size)
            kernel = initrd = cmdline = ""
            if direct:
                kernel = self._upload(undo, volume_name(name, "vmlinuz"), direct[0], "raw")
                initrd = self._upload(undo, volume_name(name, "initrd"), direct[1], "raw")
                cmdline = direct[2]
            image = Image(
                name=name, format=info.format, path=disk, virtual_size=info.virtual_size,
                boot="direct" if direct else "disk", kernel=kernel, initrd=initrd, cmdline=cmdline,
                default_user=default_user, boot_marker=boot_marker, source=str(path),
                recipe_id=recipe_id, created=time.time(),
            )
            meta = json.dumps(image.to_dict(), indent=1).encode()
            self._upload(undo, volume_name(name, "json"), meta, "raw")
            undo.pop_all()
        return image

    def remove(self, name: str, domains: list[DomainRecord]) -> Image:
        image = self.get(name)
        users = self.users(image, domains)
        if users:
            raise Conflict(f"image {name!r} is used by VM(s): {', '.join(users)}",
                           hint="delete those VMs first with `vmctl delete NAME`")
        # The description goes first: an interrupted removal never leaves a listed, broken image.
        self.pool.delete_volume(volume_name(name, "json"))
        for suffix in ("qcow2", "raw", "vmlinuz", "initrd"):
            vol = volume_name(name, suffix)
            if self.pool.has_volume(vol):
                self.pool.delete_volume(vol)
        return image

    def _check_space(self, needed: int, what: str) -> None:
        self.pool.refresh()
        available = self.pool.available()
        if needed > available:
            raise InsufficientResources(
                f"not enough space in pool {self.pool.name} for {what}: "
                f"needs {format_size(needed)}, {format_size(available)} free",
                hint="free space in the pool or use a smaller --disk",
            )

    def _upload(self, undo: ExitStack, vol: str, source: Path | bytes, fmt: str,
                capacity: int | None = None) -> str:
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        facts = self.pool.create_volume(volume_xml(vol, capacity or size, fmt, mode="0444"))
        undo.callback(self.pool.delete_volume, vol)
        self.pool.upload(vol, source)
        return facts.path


def _name_from_path(path: Path) -> str:
    stem = path.name.lower()
    for ext in (".qcow2", ".img", ".raw"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    if not stem:
        raise InvalidInput(f"cannot derive an image name from {path}", hint="give --name")
    return stem


def ensure_tiny(store: ImageStore, domains: list[DomainRecord], *, cache_root: Path,
                progress: Callable[[str], None] | None = None) -> tuple[Image, bool]:
    """Build (cached) and import the embedded guest; returns (image, changed)."""
    from vmctl.tinyguest import build_tiny_guest, recipe_id  # heavy and rarely needed

    wanted = recipe_id()
    if store.exists(TINY):
        current = store.get(TINY)
        if current.recipe_id == wanted:
            return current, False
        store.remove(TINY, domains)  # refuses, naming the VMs, if any still use the old build
    guest = build_tiny_guest(cache_root, progress=progress)
    image = store.import_file(
        guest.rootfs, name=TINY, fmt="qcow2", default_user="root",
        boot_marker=r"vmctl-guest: boot-finished", direct=(guest.kernel, guest.initrd, guest.cmdline),
        recipe_id=guest.recipe_id,
    )
    return image, True
