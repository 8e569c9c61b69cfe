"""Filling the initramfs and root filesystem staging directories."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from vmctl.errors import OperationFailed
from vmctl.tinyguest.hosttools import run

LOADER = "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
LOADER_LINK = "lib64/ld-linux-x86-64.so.2"
LIB_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
# Directories of the root filesystem and their modes.
ROOTFS_DIRS = {
    "bin": 0o755, "sbin": 0o755, "usr/bin": 0o755, "usr/sbin": 0o755,
    "lib/x86_64-linux-gnu": 0o755, "lib64": 0o755, "dev": 0o755, "proc": 0o555,
    "sys": 0o555, "run": 0o755, "tmp": 0o1777, "mnt": 0o755, "root": 0o700,
    "root/.ssh": 0o700, "etc/dropbear": 0o700, "var/lib/vmctl": 0o755,
    "var/log": 0o755,
}
SECRET_FILES = {"etc/shadow"}


def install_busybox(busybox: Path, root: Path) -> None:
    """Copy the static busybox to /bin/busybox and link every applet to it."""
    (root / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(busybox, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    for rel in run([busybox, "--list-full"], what="busybox --list-full").split():
        link = root / rel
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")


def copy_files(src: Path, root: Path) -> None:
    """Copy vmctl's guest files: scripts (``#!``) 0755, secrets 0600, others 0644."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        target = root / rel
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        data = path.read_bytes()
        target.write_bytes(data)
        if rel.as_posix() in SECRET_FILES:
            mode = 0o600
        elif data.startswith(b"#!"):
            mode = 0o755
        else:
            mode = 0o644
        os.chmod(target, mode)


def populate_initramfs(root: Path, busybox: Path, init: Path, modules: list[tuple[str, Path]]) -> None:
    """Busybox, the ``init`` script and the modules with their load order."""
    for d in ("dev", "proc", "sys", "newroot", "etc", "lib/modules"):
        (root / d).mkdir(parents=True, exist_ok=True)
    install_busybox(busybox, root)
    shutil.copy2(init, root / "init")
    os.chmod(root / "init", 0o755)
    for name, ko in modules:
        shutil.copy2(ko, root / "lib/modules" / f"{name}.ko")
    (root / "etc/modules").write_text("".join(f"{name}\n" for name, _ in modules))


def resolve_in(root: Path, path: Path) -> Path:
    """Follow symlinks of ``path`` as if ``root`` were ``/``."""
    for _ in range(16):
        if not path.is_symlink():
            return path
        target = os.readlink(path)
        path = root / target.lstrip("/") if target.startswith("/") else path.parent / target
    raise OperationFailed(f"too many symlinks at {path}")


def shared_libraries(unpacked: Path, binaries: Iterable[Path]) -> set[Path]:
    """Shared objects the binaries need, resolved by the unpacked loader."""
    libpath = ":".join(str(unpacked / d) for d in LIB_DIRS)
    needed: set[Path] = set()
    for binary in binaries:
        out = run(
            [unpacked / LOADER, "--library-path", libpath, "--list", binary],
            what=f"listing the libraries of {binary.name}",
        )
        for line in out.splitlines():
            parts = line.split("=>")
            if len(parts) != 2:
                continue
            target = parts[1].strip().split(" (")[0]
            if target == "not found" or not target:
                raise OperationFailed(f"{binary.name} needs {parts[0].strip()}, not in the packages")
            lib = Path(target)
            if lib.name != Path(LOADER).name and unpacked in lib.parents:
                needed.add(lib)
    return needed


def populate_rootfs(root: Path, unpacked: Path, binaries: Iterable[str], files: Path) -> None:
    """Busybox, dropbear and its libraries and loader, and vmctl's guest files."""
    for d, mode in ROOTFS_DIRS.items():
        (root / d).mkdir(parents=True, exist_ok=True)
    install_busybox(unpacked / "bin/busybox", root)
    paths = []
    for rel in binaries:
        src = resolve_in(unpacked, unpacked / rel)
        if not src.is_file():
            raise OperationFailed(f"{rel} is missing from the unpacked packages")
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
        os.chmod(dest, 0o755)
        paths.append(src)
    for lib in shared_libraries(unpacked, paths):
        dest = root / "lib/x86_64-linux-gnu" / lib.name
        shutil.copy2(resolve_in(unpacked, lib), dest)
        os.chmod(dest, 0o755)
    shutil.copy2(resolve_in(unpacked, unpacked / LOADER), root / LOADER)
    os.chmod(root / LOADER, 0o755)
    (root / LOADER_LINK).symlink_to("/" + LOADER)
    sftp = root / "usr/lib/sftp-server"
    if (root / "usr/lib/openssh/sftp-server").exists() and not sftp.exists():
        sftp.symlink_to("openssh/sftp-server")
    copy_files(files, root)
    for d, mode in ROOTFS_DIRS.items():
        os.chmod(root / d, mode)
