"""The image catalogue: read-only base images kept as volumes in vmctl's pool.

An image NAME is described by the volume ``NAME.base.json`` (written last, so a
half-imported image is never listed), which names its disk volume
(``NAME.base.qcow2`` or ``.raw``) and, for direct kernel boot, its kernel and
initrd volumes. Two descriptions may name the same volumes: ``tiny`` names the
newest build of the embedded guest, ``tiny-<recipe>`` each build (see ops.tiny).
Imports and removals hold the lock ``image:NAME`` and keep an intent record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local import diskimage
from vmctl.local.imageheader import HEAD_BYTES, inspect_pool_copy
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.operation import Operation
from vmctl.ops.volumes import check_removable
from vmctl.policy.resources import check_space
from vmctl.policy.ownership import Expected
from vmctl.progress import Report, Step, reporter, transfer
from vmctl.spec.volumes import IMAGE_DESCRIPTION_SUFFIX, image_lock, image_of_description, image_volume
from vmctl.spec.image import CLOUD_INIT_MARKER, TINY, Image
from vmctl.spec.names import check_name
from vmctl.virt.domains import DomainRecord
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

JSON_SUFFIX = IMAGE_DESCRIPTION_SUFFIX
volume_name = image_volume  # (image, suffix): NAME.base.SUFFIX
lock_name = image_lock      # images and VMs share the pool: an image's lock has a name no VM can have


class ImageStore:
    def __init__(self, host: Host, pool: Pool) -> None:
        self.host = host
        self.pool = pool

    def names(self) -> list[str]:
        return sorted(image for n in self.pool.volume_names() if (image := image_of_description(n)))

    def list(self) -> list[Image]:
        return [self.get(n) for n in self.names()]

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
            paths = {p for d in facts.disks for p in (d.path, *d.backing)}
            boots_kernel = bool(image.kernel) and image.kernel in record.xml
            if paths & (backed | own) or facts.meta.image == image.name or boots_kernel:
                users.append(record.name)
        return users

    def import_file(self, path: Path, *, name: str | None = None, fmt: str | None = None, default_user: str = "",
                    boot_marker: str = CLOUD_INIT_MARKER, direct: tuple[Path, Path, str] | None = None,
                    recipe_id: str = "", describe_as: str | None = None, progress: Report | None = None) -> Image:
        """Copy an image file into the pool as a read-only base; all or nothing. The copy
        in the pool, the one VMs will use, is what is inspected last. ``progress`` hears
        the stages and the bytes copied."""
        report = reporter(progress)
        name = check_name(name or _name_from_path(path), "image")
        if default_user:
            check_name(default_user, "user")
        info = diskimage.inspect(path, fmt)  # early, clear errors before anything is copied
        if self.exists(name):
            raise Conflict(f"an image named {name!r} already exists", hint="pick --name or `vmctl image rm` it")
        extra = sum(p.stat().st_size for p in direct[:2]) if direct else 0
        self._check_space(path.stat().st_size + extra, f"image {name}")
        with Operation(self.host, self.pool, "image-import", lock_name(name)) as op:
            if self.exists(name):
                raise Conflict(f"an image named {name!r} already exists", hint="pick --name or `vmctl image rm` it")
            checkpoint("image-import:locked")
            disk = self._upload(op, volume_name(name, info.format), path, info.format, info.virtual_size,
                                report=report)
            checkpoint("image-import:uploaded")
            report(Step("checking the copy"))
            self._verify_copy(volume_name(name, info.format), disk, info, source=str(path))
            checkpoint("image-import:verified")
            kernel = initrd = cmdline = ""
            if direct:
                kernel = self._upload(op, volume_name(name, "vmlinuz"), direct[0], "raw", report=report)
                initrd = self._upload(op, volume_name(name, "initrd"), direct[1], "raw", report=report)
                cmdline = direct[2]
            image = Image(
                name=describe_as or name, format=info.format, path=disk, virtual_size=info.virtual_size,
                boot="direct" if direct else "disk", kernel=kernel, initrd=initrd, cmdline=cmdline,
                default_user=default_user, boot_marker=boot_marker, source=str(path),
                recipe_id=recipe_id, created=time.time(),
            )
            self._describe(op, name, image)
            checkpoint("image-import:described")
            op.commit()
        return image

    def describe(self, name: str, image: Image) -> None:
        """(Re)write the description ``name`` (e.g. point ``tiny`` at a new build)."""
        with Operation(self.host, self.pool, "image-describe", lock_name(name)) as op:
            if self.exists(name):
                self.pool.delete_volume(volume_name(name, "json"))
            self._describe(op, name, image)
            op.commit()

    def remove(self, name: str, domains: list[DomainRecord], *, hosts: Sequence[str] = ()) -> Image:
        """Remove image ``name`` (its description, and the volumes no other description
        names) when no VM on any known host uses them and they are the volumes its
        description recorded (ops.volumes.check_removable); nothing changes otherwise."""
        image = self.get(name)
        users = self.users(image, domains)
        if users:
            raise Conflict(f"image {name!r} is used by VM(s): {', '.join(users)}",
                           hint="delete those VMs first with `vmctl delete NAME`")
        shared = {p for other in self.names() if other != name for p in self._paths(self.get(other))}
        with Operation(self.host, self.pool, "image-rm", lock_name(name), finishes=True) as op:
            # The description goes first: an interrupted removal never leaves a listed, broken image.
            names = [volume_name(name, "json")] + [Path(p).name for p in self._paths(image) if p not in shared]
            check_removable(self.host, self.pool, names, expect=self.recorded(name, image), hosts=hosts,
                            what=f"remove image {name!r}")
            for volume in names:
                op.will("volume", volume)
            checkpoint("image-rm:recorded")
            for volume in names:
                if self.pool.has_volume(volume):
                    self.pool.delete_volume(volume)
        return image

    def recorded(self, name: str, image: Image) -> dict[str, Expected]:
        """What the description of ``name`` records about its volumes: their paths, the
        disk's size, and (stamp) no write after the description itself was written."""
        try:
            written = self.pool.volume(volume_name(name, "json")).mtime
        except NotFound:
            written = None
        expect = {}
        for path in self._paths(image):
            size = image.virtual_size if path == image.path and image.format in ("qcow2", "raw") else None
            expect[Path(path).name] = Expected(path, size, written)
        return expect

    def _paths(self, image: Image) -> list[str]:
        return [p for p in (image.path, image.kernel, image.initrd) if p and str(Path(p).parent) == self.pool.path]

    def _check_space(self, needed: int, what: str) -> None:
        self.pool.refresh()
        check_space(needed=needed, available=self.pool.available(), where=f"pool {self.pool.name}", what=what,
                    hint="free space in the pool or use a smaller --disk")

    def _upload(self, op: Operation, vol: str, source: Path | bytes, fmt: str, capacity: int | None = None,
                report: Report | None = None) -> str:
        if self.pool.has_volume(vol):
            raise Conflict(f"volume {vol} exists already in pool {self.pool.name}",
                           hint="see `vmctl repair`; remove it with `virsh vol-delete` if it is nobody's")
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        op.will("volume", vol)
        facts = self.pool.create_volume(volume_xml(vol, capacity or size, fmt, mode=self.pool.readonly_mode))
        op.on_undo(self.pool.delete_volume, vol)
        on_bytes = transfer(report, f"copying {source.name}", size) if report and isinstance(source, Path) else None
        self.pool.upload(vol, source, on_bytes=on_bytes)
        return facts.path

    def _verify_copy(self, vol: str, pool_path: str, info: diskimage.ImageFileInfo, *, source: str) -> None:
        """The file may have changed between inspection and upload: inspect what landed."""
        head = self.pool.download(vol, HEAD_BYTES)
        inspect_pool_copy(head, info.format, info.virtual_size if info.format == "qcow2" else None,
                          source=f"the copy of {source} in pool {self.pool.name}")
        if self.host.is_local:  # qemu-img (under limits) on the very file VMs will use
            copy = diskimage.inspect(Path(pool_path), info.format)
            if copy.virtual_size != info.virtual_size:
                raise InvalidInput(f"the copy of {source} in the pool differs from the file that was inspected "
                                   "(it changed while it was being imported)", hint="import it again")

    def _describe(self, op: Operation, name: str, image: Image) -> None:
        self._upload(op, volume_name(name, "json"), json.dumps(image.to_dict(), indent=1).encode(), "raw")


def _name_from_path(path: Path) -> str:
    stem = path.name.lower()
    for ext in (".qcow2", ".img", ".raw"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    if not stem:
        raise InvalidInput(f"cannot derive an image name from {path}", hint="give --name")
    return stem
