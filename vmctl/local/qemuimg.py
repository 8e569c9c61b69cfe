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


def measure(path: str) -> int:
    """Bytes a flattened qcow2 copy of ``path`` (its whole backing chain) needs."""
    proc = subprocess.run(["qemu-img", "measure", "-U", "--output=json", "-O", "qcow2", "--", path],
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise OperationFailed(f"qemu-img cannot measure {path}: {proc.stderr.strip()}")
    return int(json.loads(proc.stdout)["required"])


def allocated(path: str) -> int:
    """Bytes the file itself takes on disk (its own layer, not its backing chain)."""
    return int(info(path).get("actual-size", 0))


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
