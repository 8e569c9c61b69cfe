"""Reading the first bytes of an untrusted disk image before anything trusts it.

Pure: this module only looks at bytes it is given. It tells qcow2 from raw, refuses
the formats vmctl does not import, and refuses qcow2 images that reach outside
themselves (backing file, external data file) or that it cannot fully read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from vmctl.errors import InvalidInput

HEAD_BYTES = 65536

QCOW2_MAGIC = b"QFI\xfb"
# Formats vmctl does not import, recognised by their first bytes (dmg has a trailer: not here).
FOREIGN_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"KDMV", "vmdk"),
    (b"# Disk DescriptorFile", "vmdk"),
    (b"vhdxfile", "vhdx"),
    (b"conectix", "vpc (vhd)"),
    (b"QED\x00", "qed"),
    (b"LUKS\xba\xbe", "LUKS"),
    (b"WithoutFreeSpace", "parallels"),
    (b"WithouFreSpacExt", "parallels"),
    (b"Bochs Virtual HD Image", "bochs"),
    (b"#!/bin/sh\n#V2.0 Format", "cloop"),
)
VDI_SIGNATURE = struct.pack("<I", 0xBEDA107F)

V2_HEADER_LEN = 72
V3_HEADER_MIN = 104
INCOMPAT_DATA_FILE = 1 << 2
INCOMPAT_KNOWN = (1 << 5) - 1   # dirty, corrupt, data file, compression type, extended L2
EXT_END = 0
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_DATA_FILE = 0x44415441

FLATTEN = "flatten it first: qemu-img convert -O qcow2 IN OUT"
CONVERT = "convert it with `qemu-img convert -O qcow2 IN OUT`"
CHANGED = "the copy in the pool differs from the file that was inspected: it changed while it was being imported"


@dataclass(frozen=True)
class HeaderFacts:
    format: str                 # "qcow2" or "raw"
    virtual_size: int | None    # qcow2: the header's size field; raw: None
    version: int | None         # qcow2: 2 or 3; raw: None


def foreign_format(head: bytes) -> str | None:
    """The name of a format vmctl does not import that ``head`` starts with, if any."""
    for magic, name in FOREIGN_MAGICS:
        if head.startswith(magic):
            return name
    if head.startswith(b"<<< ") and head[64:68] == VDI_SIGNATURE:
        return "vdi"
    return None


def inspect_header(head: bytes, declared: str | None = None, *, source: str = "image") -> HeaderFacts:
    """qcow2 or raw from an image's first bytes; raise InvalidInput if it is unsafe or foreign."""
    if declared not in (None, "qcow2", "raw"):
        raise InvalidInput(f"unsupported image format {declared!r} for {source}",
                           hint="vmctl imports qcow2 and raw images; " + CONVERT)
    is_qcow2 = head.startswith(QCOW2_MAGIC)
    foreign = foreign_format(head)
    if declared == "raw" and (is_qcow2 or foreign):
        raise InvalidInput(
            f"{source} is declared raw but has a {'qcow2' if is_qcow2 else foreign} header",
            hint="a raw image must not look like another format (QEMU could be made to read host files); "
                 + ("import it with --format qcow2" if is_qcow2 else CONVERT),
        )
    if foreign:
        raise InvalidInput(f"{source} is a {foreign} image, neither qcow2 nor raw", hint=CONVERT)
    if is_qcow2:
        return _qcow2(head, source)
    if declared == "qcow2":
        raise InvalidInput(f"{source} is not a qcow2 image (no qcow2 magic at its start)",
                           hint="import it with --format raw")
    return HeaderFacts(format="raw", virtual_size=None, version=None)


def inspect_pool_copy(head: bytes, declared: str, expected_virtual_size: int | None, *,
                      source: str) -> HeaderFacts:
    """Check the copy of an image in the pool against what :func:`inspect_header` saw before."""
    if declared not in ("qcow2", "raw"):
        inspect_header(head, declared, source=source)   # raises: unsupported format
    facts = inspect_header(head, None, source=source)   # as strict as ``declared``, clearer message
    if facts.format != declared:
        detail = f"{facts.format}, not {declared}"
    elif facts.format == "qcow2" and facts.virtual_size != expected_virtual_size:
        detail = f"virtual size {facts.virtual_size}, not {expected_virtual_size}"
    else:
        return facts
    raise InvalidInput(f"{source}: {CHANGED} ({detail})",
                       hint="import it again from a file that nothing else writes to")


def _qcow2(head: bytes, source: str) -> HeaderFacts:
    """Parse and vet a qcow2 header (big-endian, see qemu's docs/interop/qcow2.txt)."""
    if len(head) < V2_HEADER_LEN:
        raise _truncated(source, f"{len(head)} bytes, needs {V2_HEADER_LEN}")
    version, backing_offset, backing_size, cluster_bits, size, crypt = struct.unpack_from(">IQIIQI", head, 4)
    if version not in (2, 3):
        raise InvalidInput(f"{source} is qcow2 version {version}; vmctl reads versions 2 and 3",
                           hint="convert it with `qemu-img convert -O qcow2 -o compat=1.1 IN OUT`")
    if not 9 <= cluster_bits <= 21:
        raise InvalidInput(f"{source} has an invalid qcow2 cluster size (2^{cluster_bits})", hint=CONVERT)
    incompat, header_len = 0, V2_HEADER_LEN
    if version == 3:
        if len(head) < V3_HEADER_MIN:
            raise _truncated(source, f"{len(head)} bytes, needs {V3_HEADER_MIN}")
        (incompat,) = struct.unpack_from(">Q", head, 72)
        (header_len,) = struct.unpack_from(">I", head, 100)
        if not V3_HEADER_MIN <= header_len <= min(len(head), 1 << cluster_bits) or header_len % 8:
            raise _truncated(source, f"header length {header_len} is invalid or past the first {len(head)} bytes")
    exts = _extensions(head, header_len, 1 << cluster_bits, source)
    if backing_offset or EXT_BACKING_FORMAT in exts:
        name = _backing_name(head, backing_offset, backing_size) or (
            "" if backing_offset else "a backing format header extension without a backing file")
        raise InvalidInput(f"{source} names a backing file" + (f" ({name})" if name else ""), hint=FLATTEN)
    if crypt:
        raise InvalidInput(f"{source} is encrypted (qcow2 crypt method {crypt})",
                           hint="decrypt it first: qemu-img convert --object secret,... -O qcow2 IN OUT")
    if incompat & INCOMPAT_DATA_FILE or EXT_DATA_FILE in exts:
        name = _printable(exts.get(EXT_DATA_FILE, b""))
        raise InvalidInput(f"{source} names an external data file" + (f" ({name})" if name else ""), hint=FLATTEN)
    if unknown := incompat & ~INCOMPAT_KNOWN:
        raise InvalidInput(f"{source} uses unknown qcow2 incompatible features (mask {unknown:#x})",
                           hint="convert it with a qemu-img that knows them: qemu-img convert -O qcow2 IN OUT")
    return HeaderFacts(format="qcow2", virtual_size=size, version=version)


def _extensions(head: bytes, offset: int, cluster_size: int, source: str) -> dict[int, bytes]:
    """The header extensions from ``offset`` to the end marker; they must end within the first cluster."""
    end = min(len(head), cluster_size)
    found: dict[int, bytes] = {}
    while offset < end:
        kind, length = struct.unpack_from(">II", head, offset) if offset + 8 <= end else (None, 0)
        if kind == EXT_END:
            return found
        if kind is None or offset + 8 + length > end:
            raise _ext_past(source, offset, end)
        found[kind] = head[offset + 8:offset + 8 + length]
        offset += 8 + (length + 7) // 8 * 8
    if cluster_size > len(head):   # no end marker in the bytes we have
        raise _ext_past(source, offset, end)
    return found   # qemu stops at the end of the first cluster too


def _backing_name(head: bytes, offset: int, size: int) -> str:
    return _printable(head[offset:offset + size]) if offset and offset + size <= len(head) else ""


def _printable(raw: bytes, limit: int = 200) -> str:
    """Untrusted bytes made safe for a message: no control characters, not too long."""
    text = "".join(c if c.isprintable() else "?" for c in raw.decode("utf-8", "replace"))
    return text if len(text) <= limit else text[:limit] + "..."


def _truncated(source: str, detail: str) -> InvalidInput:
    return InvalidInput(f"{source} has a truncated qcow2 header ({detail})",
                        hint="the file is damaged or not a qcow2 image; " + CONVERT)


def _ext_past(source: str, offset: int, end: int) -> InvalidInput:
    return InvalidInput(f"{source} has a qcow2 header extension at byte {offset} that runs past "
                        f"the end of its header ({end} bytes)", hint=CONVERT)
