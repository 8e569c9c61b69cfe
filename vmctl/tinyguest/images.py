"""Turning staging directories into an initramfs (cpio.gz) and a qcow2 root disk."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from vmctl.tinyguest.hosttools import run, run_bytes


def _walk(root: Path) -> list[str]:
    """All paths under ``root``, relative and sorted, directories before contents."""
    paths = ["."]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        for name in dirnames + sorted(filenames):
            paths.append(str(rel / name) if str(rel) != "." else name)
    return paths


def make_initramfs(root: Path, dest: Path) -> None:
    """Pack ``root`` as a newc cpio archive owned by root, gzip-compressed."""
    listing = ("\n".join(_walk(root)) + "\n").encode()
    archive = run_bytes(
        ["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
        what="cpio (initramfs)",
        cwd=root,
        stdin=listing,
    )
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(archive)


def make_rootfs(root: Path, dest: Path, *, size_mib: int, label: str) -> None:
    """Make an ext4 filesystem (no partition table) from ``root``, as qcow2."""
    raw = dest.with_suffix(".raw")
    try:
        run(
            ["mkfs.ext4", "-q", "-F", "-L", label, "-d", root,
             "-E", "root_owner=0:0", raw, f"{size_mib}M"],
            what="mkfs.ext4 (root filesystem)",
        )
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, dest],
            what="qemu-img convert (root filesystem)")
    finally:
        raw.unlink(missing_ok=True)
