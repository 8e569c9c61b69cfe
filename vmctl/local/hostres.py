"""Host resources a domain template may name, looked up on this machine: files,
bridges and interfaces, UEFI firmware, the TPM emulator, hugepages."""

from __future__ import annotations

import glob
import json
import os
import shutil
from pathlib import Path

FIRMWARE_DESCRIPTORS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")


def path_exists(path: str) -> bool:
    return os.path.exists(path)


def parent_dir_exists(path: str) -> bool:
    return os.path.isdir(os.path.dirname(path) or "/")


def is_dir(path: str) -> bool:
    return os.path.isdir(path)


def is_bridge(name: str) -> bool:
    return os.path.isdir(f"/sys/class/net/{name}/bridge") if "/" not in name else False


def interface_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}") if "/" not in name else False


def uefi_firmware() -> list[str]:
    """The firmware descriptors (QEMU's firmware.json) that describe UEFI firmware."""
    found = []
    for directory in FIRMWARE_DESCRIPTORS:
        for path in sorted(glob.glob(f"{directory}/*.json")):
            try:
                desc = json.loads(Path(path).read_text())
            except (OSError, ValueError):
                continue
            if "uefi" in desc.get("interface-types", []):
                found.append(path)
    return found


def has_program(name: str) -> bool:
    return shutil.which(name) is not None or any(os.access(f"{d}/{name}", os.X_OK) for d in ("/usr/bin", "/usr/sbin"))


def hugepages_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("HugePages_Total:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0
