"""Inspecting image files with qemu-img before vmctl trusts them.

The first bytes are checked by :mod:`vmctl.local.imageheader` (qcow2 or raw, no
backing or data file, no other format's header). Then ``qemu-img info`` runs under
memory, CPU and time limits, always with the format stated (``-f FMT``): letting
QEMU guess is how a raw file with a qcow2 header turns into a read of any host file.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput, NotFound
from vmctl.local.imageheader import FLATTEN, HEAD_BYTES, inspect_header
from vmctl.local.limits import run_limited


@dataclass(frozen=True)
class ImageFileInfo:
    format: str
    virtual_size: int
    actual_size: int


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first ``size`` bytes of a regular file, never through a symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"no image file {path}", hint="give the path of a qcow2 or raw image") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise InvalidInput(f"{path} is a symbolic link", hint="give the path of the image file itself "
                               "(`realpath` shows it)") from None
        raise InvalidInput(f"cannot read {path}: {e.strerror}", hint="check the path and its permissions") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotFound(f"no image file {path} (not a regular file)", hint="give the path of a qcow2 or raw image")
        chunks: list[bytes] = []
        while size > 0 and (chunk := os.read(fd, size)):
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def sniff_format(path: Path) -> str:
    """qcow2 or raw, from the file's first bytes; unsafe or other formats are refused."""
    return inspect_header(read_head(path), source=str(path)).format


def inspect(path: Path, fmt: str | None = None) -> ImageFileInfo:
    """Check an untrusted image file; raise InvalidInput if it is unsafe to use."""
    facts = inspect_header(read_head(path), fmt, source=str(path))
    fmt = facts.format
    proc = run_limited(["qemu-img", "info", "-f", fmt, "--output=json", "--", str(path)])
    if proc.returncode != 0:
        raise InvalidInput(f"qemu-img cannot read {path}: {proc.stderr.strip() or f'exit {proc.returncode}'}",
                           hint="is the file an image?")
    try:
        info = json.loads(proc.stdout)
        virtual_size = int(info["virtual-size"])
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"qemu-img info gave no virtual size for {path}", hint="is the file an image?") from None
    # A second line of defence: the header check above refuses these already.
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise InvalidInput(f"{path} names a backing file ({info.get('backing-filename')})", hint=FLATTEN)
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        raise InvalidInput(f"{path} names an external data file", hint=FLATTEN)
    if fmt == "qcow2" and virtual_size != facts.virtual_size:
        raise InvalidInput(f"{path} changed while it was being inspected (virtual size {facts.virtual_size} "
                           f"in its header, {virtual_size} from qemu-img)", hint="import it again")
    return ImageFileInfo(format=fmt, virtual_size=virtual_size, actual_size=int(info.get("actual-size", 0)))
