"""`qemu-img info` of an image vmctl itself manages (a VM's disk, a backup it wrote),
read while QEMU may have it open (-U). Untrusted files go through diskimage.inspect."""

from __future__ import annotations

import json
import subprocess

from vmctl.errors import OperationFailed


def info(path: str) -> dict:
    proc = subprocess.run(["qemu-img", "info", "-U", "--output=json", "--", path], capture_output=True, text=True,
                          timeout=60, check=False)
    if proc.returncode != 0:
        raise OperationFailed(f"qemu-img cannot read {path}: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


SECONDS_PER_GIB = 300.0  # bound for copying one GiB (slow disks, a busy TCG host)


def convert(source: str, dest: str, *, backing: str | None = None, backing_format: str = "qcow2") -> None:
    """``source`` (an image vmctl manages, maybe open in QEMU: -U) into a new qcow2 at
    ``dest``: flattened, or with ``backing`` holding only what differs from it."""
    timeout = max(60.0, SECONDS_PER_GIB * int(info(source)["virtual-size"]) / 2**30)
    argv = ["qemu-img", "convert", "-U", "-O", "qcow2"]
    if backing:
        argv += ["-B", backing, "-F", backing_format]
    proc = subprocess.run([*argv, "--", source, dest], capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise OperationFailed(f"qemu-img convert of {source} failed: {proc.stderr.strip()}",
                              hint="is the pool's file system full or read-only?")
