"""A backup directory is untrusted input: its manifest may have been forged.

Every key of the manifest must be a plain file name that ``vmctl backup`` writes
(``domain.xml``, ``kernel``, ``initrd``, ``disk-<target>.qcow2`` / ``.iso``), never a
path (no ``/``, ``..``, NUL, absolute names), with an entry of the matching role;
every file in the directory must be a regular file (no symlinks, no devices), listed
in the manifest, of the listed size and sha256. Files are opened with O_NOFOLLOW,
each hashed under exactly the name it is read by, and the definition is returned as
the very bytes that were hashed."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput, NotFound

FORMAT = 1
MAX_SMALL_FILE = 1 << 20  # manifest.json and domain.xml
DISK_FILE = re.compile(r"disk-([A-Za-z0-9]{1,32})\.(qcow2|iso)")
ROLES = {"domain.xml": "definition", "kernel": "kernel", "initrd": "initrd"}
TAMPERED = "the backup was changed after vmctl made it; restore from another backup (nothing was made)"


@dataclass(frozen=True)
class CheckedBackup:
    manifest: dict
    xml: bytes                  # domain.xml, exactly the bytes whose checksum matched
    disks: dict[str, dict]      # file name -> entry (role "disk"), names checked


def open_plain(path: Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file and not a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidInput(f"{path} cannot be opened as a plain file: {exc.strerror}", hint=TAMPERED) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"{path} is not a regular file", hint=TAMPERED)
    return fd


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with os.fdopen(open_plain(path), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_small(path: Path) -> bytes:
    with os.fdopen(open_plain(path), "rb") as fh:
        data = fh.read(MAX_SMALL_FILE + 1)
    if len(data) > MAX_SMALL_FILE:
        raise InvalidInput(f"{path} is larger than {MAX_SMALL_FILE >> 20} MiB", hint=TAMPERED)
    return data


def check_entry(src: Path, file: object, entry: object) -> None:
    """Refuse a manifest entry that is not a file ``vmctl backup`` writes."""
    if not isinstance(file, str) or not file or "/" in file or "\\" in file or "\0" in file \
            or file in (".", "..") or os.path.isabs(file):
        raise InvalidInput(f"the manifest of {src} names {file!r}, which is not a file inside the backup",
                           hint=TAMPERED)
    disk = DISK_FILE.fullmatch(file)
    if not disk and file not in ROLES:
        raise InvalidInput(f"the manifest of {src} names {file!r}, which is not a file vmctl backup writes",
                           hint=TAMPERED)
    if not isinstance(entry, dict) or not isinstance(entry.get("size"), int) or isinstance(entry.get("size"), bool) \
            or not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256", ""))):
        raise InvalidInput(f"the manifest entry of {file} in {src} is malformed", hint=TAMPERED)
    if disk:
        iso = disk.group(2) == "iso"
        wanted = {"role": "disk", "target": disk.group(1), "format": "raw" if iso else "qcow2"}
        if any(entry.get(k) != v for k, v in wanted.items()) \
                or entry.get("device") not in (("cdrom",) if iso else ("disk", "lun")):
            raise InvalidInput(f"the manifest entry of {file} in {src} does not describe that disk", hint=TAMPERED)
    elif entry.get("role") != ROLES[file]:
        raise InvalidInput(f"the manifest entry of {file} in {src} has role {entry.get('role')!r}", hint=TAMPERED)


def check_backup(src: Path) -> CheckedBackup:
    """The backup's manifest and definition, once every file matches; else InvalidInput
    (NotFound if ``src`` is no backup at all)."""
    src = Path(src)
    if not (src / "manifest.json").exists() and not (src / "manifest.json").is_symlink():
        raise NotFound(f"{src} is not a vmctl backup (no manifest.json)", hint="give a directory vmctl backup made")
    try:
        manifest = json.loads(read_small(src / "manifest.json"))
    except ValueError as exc:
        raise InvalidInput(f"the manifest of {src} is damaged: {exc}", hint="restore from another backup") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or not isinstance(manifest.get("files"), dict) or not isinstance(manifest.get("vm"), str):
        raise InvalidInput(f"{src}/manifest.json is not a vmctl backup manifest of a known format",
                           hint="restore it with the vmctl version that made it")
    files: dict = manifest["files"]
    for file, entry in files.items():
        check_entry(src, file, entry)
    if "domain.xml" not in files:
        raise InvalidInput(f"the manifest of {src} lists no domain.xml", hint=TAMPERED)
    with os.scandir(src) as listing:
        present = {e.name: e for e in listing if e.name != "manifest.json"}
    if extra := set(present) - set(files):
        raise InvalidInput(f"{src} holds files its manifest does not list: {', '.join(sorted(extra))}",
                           hint="the backup was changed after it was made; restore from another one")
    for name, dirent in sorted(present.items()):
        if not dirent.is_file(follow_symlinks=False):
            raise InvalidInput(f"{name} in {src} is not a regular file (a symlink, directory or device)",
                               hint=TAMPERED)
    xml = b""
    for file, entry in files.items():
        path = src / file  # exactly the key: checked to be a plain name above
        if file not in present:
            raise InvalidInput(f"{src} lacks {file}", hint="the backup is incomplete; restore from another one")
        if file == "domain.xml":
            xml = read_small(path)
            size, digest = len(xml), hashlib.sha256(xml).hexdigest()
        else:
            size, digest = os.lstat(path).st_size, sha256_of(path)
        if size != entry["size"] or digest != entry["sha256"]:
            raise InvalidInput(f"{file} in {src} does not match its checksum (damaged or tampered)",
                               hint="restore from another backup; nothing was made")
    return CheckedBackup(manifest, xml, {f: e for f, e in files.items() if e["role"] == "disk"})


def still_plain(src: Path, file: str) -> Path:
    """``src/file`` again just before it is read (it was checked earlier): still no symlink."""
    path = Path(src) / file
    os.close(open_plain(path))
    return path
