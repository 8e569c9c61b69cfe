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
