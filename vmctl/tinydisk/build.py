"""Build the disk-boot variant of the tiny guest from a tiny build, once per recipe.

    tiny build (cache)          Debian packages
      initrd.img  ──┐            linux-image-<release> (the same kernel, as a bzImage)
      rootfs      ──┼──> disk:   grub-pc-bin + grub-common (grub-mkimage): BIOS
      manifest    ──┘            shim-signed + grub-efi-amd64-signed: UEFI

The initramfs is tiny's with a second archive appended (the kernel unpacks both, the
later one wins): modules for SATA and virtio-scsi disks and an /init that finds the
root filesystem by its label, whatever bus the disk is on.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import HostError, OperationFailed
from vmctl.tinydisk import disk, recipe
from vmctl.tinydisk.recipe import disk_recipe_id
from vmctl.tinyguest import debs, images, kmods
from vmctl.tinyguest.build import TinyGuest, _locked
from vmctl.tinyguest.hosttools import run

DISK_NAME = "disk.qcow2"
DONE_NAME = "done"
# Host tool -> Debian package that provides it (beyond what building tiny needs).
TOOLS = {"mkfs.vfat": "dosfstools", "mcopy": "mtools", "mmd": "mtools", "qemu-img": "qemu-utils",
         "cpio": "cpio", "apt-get": "apt", "dpkg-deb": "dpkg", "modinfo": "kmod"}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TinyDisk:
    recipe_id: str
    path: Path


def build_tinydisk(tiny: TinyGuest, cache_root: Path, *, progress: Progress | None = None) -> TinyDisk:
    """The disk image for ``tiny``'s build, from the cache or built now."""
    say = progress or (lambda _msg: None)
    rid = disk_recipe_id(tiny.recipe_id)
    final = Path(cache_root) / rid
    if (final / DONE_NAME).is_file():
        return TinyDisk(rid, final / DISK_NAME)
    Path(cache_root).mkdir(parents=True, exist_ok=True)
    with _locked(Path(cache_root)):
        if (final / DONE_NAME).is_file():
            return TinyDisk(rid, final / DISK_NAME)
        _require_tools()
        shutil.rmtree(final, ignore_errors=True)
        for stale in Path(cache_root).iterdir():  # other recipes and killed builds
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{rid}.build-", dir=cache_root))
        try:
            _build_into(staging, tiny, say)
            (staging / DONE_NAME).write_text(rid + "\n")
            os.chmod(staging, 0o755)
            os.rename(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    say(f"tinydisk {rid} ready in {final}")
    return TinyDisk(rid, final / DISK_NAME)


def _require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise HostError("building the disk-boot guest needs " + ", ".join(missing),
                        "install them: apt-get install " + " ".join(sorted({TOOLS[t] for t in missing})))


def _build_into(out: Path, tiny: TinyGuest, say: Progress) -> None:
    work = out / "work"
    for sub in ("debs", "pkgs", "kernel", "extra", "esp"):
        (work / sub).mkdir(parents=True)
    manifest = json.loads((tiny.rootfs.parent / "manifest.json").read_text())
    release = manifest["kernel_release"]
    kernel_pkg = f"linux-image-{release}"
    version = manifest["packages"].get(kernel_pkg, "")
    say(f"downloading {kernel_pkg} and {len(recipe.PACKAGES)} bootloader packages")
    fetched = _download([f"{kernel_pkg}={version}" if version else kernel_pkg, *recipe.PACKAGES], work / "debs")
    for name in recipe.PACKAGES:
        debs.unpack(fetched[name], work / "pkgs")

    say("building the initramfs")
    vmlinuz, modules = _kernel(fetched[kernel_pkg], work / "kernel", release,
                               [*manifest["modules"], *recipe.EXTRA_MODULES])
    extra = work / "extra"
    for d in ("etc", "lib/modules"):
        (extra / d).mkdir(parents=True)
    shutil.copy2(recipe.FILES_DIR / "init", extra / "init")
    os.chmod(extra / "init", 0o755)
    for name, ko in modules:
        shutil.copy2(ko, extra / "lib/modules" / f"{name}.ko")
    (extra / "etc/modules").write_text("".join(f"{name}\n" for name, _ in modules))
    images.make_initramfs(extra, work / "extra.cpio.gz")
    initrd = work / "esp-initrd.img"
    initrd.write_bytes(tiny.initrd.read_bytes() + (work / "extra.cpio.gz").read_bytes())

    say("building the bootloaders and the EFI system partition")
    pkgs = work / "pkgs"
    core = work / "core.img"
    run([pkgs / "usr/bin/grub-mkimage", "-O", "i386-pc", "-d", pkgs / "usr/lib/grub/i386-pc", "-o", core,
         "-p", "(hd0,msdos1)/boot/grub", *recipe.GRUB_BIOS_MODULES], what="grub-mkimage (BIOS)")
    cfg = work / "grub.cfg"
    cfg.write_text(recipe.grub_cfg())
    esp = work / "esp.img"
    run(["mkfs.vfat", "-C", "-n", recipe.ESP_LABEL, esp, str(recipe.ESP_SIZE_MIB * 1024)], what="mkfs.vfat")
    files = {
        "vmlinuz": vmlinuz, "initrd.img": initrd, "boot/grub/grub.cfg": cfg,
        "EFI/BOOT/BOOTX64.EFI": pkgs / "usr/lib/shim/shimx64.efi.signed",
        "EFI/BOOT/grubx64.efi": pkgs / "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
        "EFI/BOOT/grub.cfg": cfg, "EFI/debian/grub.cfg": cfg,
    }
    _fill_fat(esp, files)

    say("assembling the disk")
    root = work / "root.raw"
    run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", tiny.rootfs, root], what="qemu-img convert (root)")
    raw = work / "disk.raw"
    disk.assemble(raw, boot_img=(pkgs / "usr/lib/grub/i386-pc/boot.img").read_bytes(),
                  core_img=core.read_bytes(), esp=esp, root=root)
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out / DISK_NAME], what="qemu-img convert (disk)")
    os.chmod(out / DISK_NAME, 0o644)
    (out / "manifest.json").write_text(json.dumps({
        "recipe_id": disk_recipe_id(tiny.recipe_id), "tiny_recipe_id": tiny.recipe_id,
        "kernel_release": release, "cmdline": recipe.CMDLINE,
        "packages": {n: debs.deb_field(d, "Version") for n, d in sorted(fetched.items())},
        "modules": [name for name, _ in modules]}, indent=2) + "\n")
    shutil.rmtree(work)


def _download(specs: list[str], dest: Path) -> dict[str, Path]:
    """``apt-get download`` (``name`` or ``name=version``); {package: .deb path}."""
    run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *specs], what="apt-get download",
        hint=debs.APT_HINT, cwd=dest)
    found = {debs.deb_field(deb, "Package"): deb for deb in sorted(dest.glob("*.deb"))}
    missing = [s.split("=")[0] for s in specs if s.split("=")[0] not in found]
    if missing:
        raise OperationFailed("apt-get download did not fetch " + ", ".join(missing),
                              "rebuild tiny (`vmctl image build tiny`) if its kernel left the archive")
    return found


def _kernel(deb: Path, dest: Path, release: str, wanted: list[str]) -> tuple[Path, list[tuple[str, Path]]]:
    """The bzImage and the wanted modules (with dependencies, in load order)."""
    debs.extract(deb, dest, [f"./boot/vmlinuz-{release}", f"./lib/modules/{release}/modules.order",
                             f"./lib/modules/{release}/modules.builtin", *(kmods.member_pattern(m) for m in wanted)])
    modules_dir = dest / "lib/modules" / release
    vmlinuz = dest / f"boot/vmlinuz-{release}"
    if not vmlinuz.is_file() or not modules_dir.is_dir():
        raise OperationFailed(f"unexpected layout of kernel package {deb.name}")
    order = kmods.index(modules_dir, "modules.order")

    def fetch(names: list[str]) -> None:
        missing = [n for n in names if not (modules_dir / order[n]).is_file()]
        if missing:
            debs.extract(deb, dest, [kmods.member_pattern(n) for n in missing])

    return vmlinuz, kmods.resolve(wanted, modules_dir, fetch)


def _fill_fat(image: Path, files: dict[str, Path]) -> None:
    """Copy files into a FAT image with mtools (nothing is mounted)."""
    dirs = sorted({str(Path(rel).parent) for rel in files} - {"."}, key=lambda d: d.count("/"))
    made: set[str] = set()
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in made:
                run(["mmd", "-i", image, f"::/{sub}"], what=f"mmd {sub}")
                made.add(sub)
    for rel, src in files.items():
        run(["mcopy", "-i", image, src, f"::/{rel}"], what=f"mcopy {rel}")
