"""Inspecting image files with qemu-img before vmctl trusts them.

The format is always stated explicitly (``qemu-img info -f FMT``): letting QEMU
guess is how a raw file with a qcow2 header turns into a read of any host file.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import HostError, InvalidInput, NotFound

QCOW2_MAGIC = b"QFI\xfb"
# Headers of formats vmctl does not import (vmdk, vhdx, vdi, qed, LUKS).
OTHER_MAGICS = (b"KDMV", b"# Disk DescriptorFile", b"vhdxfile", b"<<< Oracle VM", b"QED\x00", b"LUKS\xba\xbe")


@dataclass(frozen=True)
class ImageFileInfo:
    format: str
    virtual_size: int
    actual_size: int


def sniff_format(path: Path) -> str:
    """qcow2 or raw, from the file's first bytes; other formats are refused."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(QCOW2_MAGIC):
        return "qcow2"
    if any(head.startswith(magic) for magic in OTHER_MAGICS):
        raise InvalidInput(f"{path} is neither qcow2 nor raw", hint="convert it with `qemu-img convert -O qcow2`")
    return "raw"


def inspect(path: Path, fmt: str | None = None) -> ImageFileInfo:
    """Check an untrusted image file; raise InvalidInput if it is unsafe to use."""
    if not path.is_file():
        raise NotFound(f"no image file {path}", hint="give the path of a qcow2 or raw image")
    sniffed = sniff_format(path)
    fmt = fmt or sniffed
    if fmt not in ("qcow2", "raw"):
        raise InvalidInput(f"unsupported image format {fmt!r}", hint="vmctl imports qcow2 and raw images")
    if fmt == "raw" and sniffed == "qcow2":
        raise InvalidInput(f"{path} is declared raw but has a qcow2 header",
                           hint="a raw image must not look like qcow2; import it as qcow2")
    if fmt == "qcow2" and sniffed != "qcow2":
        raise InvalidInput(f"{path} is not a qcow2 image", hint="import it with --format raw")
    try:
        proc = subprocess.run(
            ["qemu-img", "info", "-f", fmt, "--output=json", "--", str(path)],
            capture_output=True, text=True, timeout=60, check=False,
        )
    except FileNotFoundError:
        raise HostError("qemu-img is not installed", hint="install qemu-utils (.ci/setup does it)") from None
    if proc.returncode != 0:
        raise InvalidInput(f"qemu-img cannot read {path}: {proc.stderr.strip()}", hint="is the file an image?")
    info = json.loads(proc.stdout)
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise InvalidInput(f"{path} names a backing file ({info.get('backing-filename')})",
                           hint="flatten it first: qemu-img convert -O qcow2 IN OUT")
    data = info.get("format-specific", {}).get("data", {})
    if data.get("data-file"):
        raise InvalidInput(f"{path} names an external data file",
                           hint="flatten it first: qemu-img convert -O qcow2 IN OUT")
    return ImageFileInfo(format=fmt, virtual_size=int(info["virtual-size"]),
                         actual_size=int(info.get("actual-size", 0)))
