"""Copying files and trees over an SFTP client, keeping permission bits.

Works on any object with the SFTP client methods used here (stat, listdir_attr, mkdir,
chmod, putfo, getfo), so it needs no paramiko import: :mod:`vmctl.ssh` passes its
client in and translates transport failures. Every ``OSError`` met here, local or
remote, becomes a vmctl error naming the side and the path.

Rules: a destination path is exact (a tree is merged into it), except that a single
file copied onto an existing directory lands inside it. Only regular files and
directories are copied; symlinks and special files are skipped and logged. Names a
guest sends that could escape the destination (``..``, ``/``) are refused.
"""

from __future__ import annotations

import errno
import logging
import os
import posixpath
import stat
from pathlib import Path
from collections.abc import Callable
from typing import Any

from vmctl.errors import GuestError, InvalidInput, NotFound, OperationFailed, VmctlError

log = logging.getLogger("vmctl.ssh.session")
PERM_BITS = 0o777  # permission bits only: setuid/setgid/sticky are not carried over
#: hears (the file's path on the sending side, bytes so far, the file's size) during each file
OnBytes = Callable[[str, int, int], None]


def _quiet(_path: str, _done: int, _total: int) -> None:
    pass


def put(sftp: Any, local: Path, remote: str, *, recursive: bool, on_bytes: OnBytes | None = None) -> None:
    """Copy a local file, or with ``recursive`` a directory tree, to ``remote``."""
    on_bytes = on_bytes or _quiet
    info = _local(lambda: local.stat(), local, "reading")
    if stat.S_ISDIR(info.st_mode):
        if not recursive:
            raise InvalidInput(f"{local} is a directory", hint="pass recursive=True to copy a tree")
        _remote_makedirs(sftp, posixpath.dirname(remote.rstrip("/")))
        _put_tree(sftp, local, remote.rstrip("/") or "/", on_bytes)
        return
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{local} is not a regular file or directory")
    if _remote_is_dir(sftp, remote):
        remote = posixpath.join(remote, local.name)
    elif recursive:
        _remote_makedirs(sftp, posixpath.dirname(remote))
    _put_file(sftp, local, remote, info.st_mode, on_bytes)


def get(sftp: Any, remote: str, local: Path, *, recursive: bool, on_bytes: OnBytes | None = None) -> None:
    """Copy a remote file, or with ``recursive`` a directory tree, to ``local``."""
    on_bytes = on_bytes or _quiet
    info = _remote(lambda: sftp.stat(remote), remote, "reading")
    mode = info.st_mode or 0
    if stat.S_ISDIR(mode):
        if not recursive:
            raise InvalidInput(f"{remote} on the guest is a directory", hint="pass recursive=True to copy a tree")
        _local(lambda: local.parent.mkdir(parents=True, exist_ok=True), local.parent, "creating")
        _get_tree(sftp, remote, local, on_bytes)
        return
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"{remote} on the guest is not a regular file or directory")
    if local.is_dir() and not local.is_symlink():
        local = local / posixpath.basename(remote.rstrip("/"))
    elif recursive:
        _local(lambda: local.parent.mkdir(parents=True, exist_ok=True), local.parent, "creating")
    elif not local.parent.is_dir():
        raise NotFound(f"local directory {local.parent} does not exist",
                       hint="create it first, or pass recursive=True to create it")
    _get_file(sftp, remote, local, mode, on_bytes, info.st_size)


def _put_tree(sftp: Any, root: Path, remote_root: str, on_bytes: OnBytes) -> None:
    dirs: list[tuple[str, int]] = []
    stack = [(root, remote_root)]
    while stack:
        local_dir, remote_dir = stack.pop()
        mode = _local(lambda: local_dir.stat().st_mode, local_dir, "reading")
        if not _remote_is_dir(sftp, remote_dir):
            _remote(lambda: sftp.mkdir(remote_dir, 0o700), remote_dir, "creating directory")
        dirs.append((remote_dir, mode))
        entries = _local(lambda: sorted(os.scandir(local_dir), key=lambda e: e.name), local_dir, "listing")
        for entry in entries:
            target = posixpath.join(remote_dir, entry.name)
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), target))
            elif entry.is_file(follow_symlinks=False):
                file_mode = _local(lambda: entry.stat(follow_symlinks=False).st_mode, Path(entry.path), "reading")
                _put_file(sftp, Path(entry.path), target, file_mode, on_bytes)
            else:
                log.warning("skipped %s: not a regular file or directory", entry.path)
    for remote_dir, mode in reversed(dirs):  # deepest first, so a read-only dir is filled before it is locked
        _remote(lambda: sftp.chmod(remote_dir, mode & PERM_BITS), remote_dir, "setting the mode of")


def _get_tree(sftp: Any, remote_root: str, root: Path, on_bytes: OnBytes) -> None:
    dirs: list[tuple[Path, int]] = []
    stack = [(remote_root, root, _remote(lambda: sftp.stat(remote_root), remote_root, "reading").st_mode)]
    while stack:
        remote_dir, local_dir, mode = stack.pop()
        _make_local_dir(local_dir)
        dirs.append((local_dir, mode or 0o700))
        entries = _remote(lambda: sftp.listdir_attr(remote_dir), remote_dir, "listing")
        for attr in sorted(entries, key=lambda a: a.filename):
            name = attr.filename
            if name in ("", ".", "..") or "/" in name or "\0" in name:
                raise GuestError(f"the guest listed an unsafe name {name!r} in {remote_dir}",
                                 hint="refusing to copy a tree whose names would escape the destination")
            source, target, entry_mode = posixpath.join(remote_dir, name), local_dir / name, attr.st_mode or 0
            if stat.S_ISDIR(entry_mode):
                stack.append((source, target, entry_mode))
            elif stat.S_ISREG(entry_mode):
                _get_file(sftp, source, target, entry_mode, on_bytes, attr.st_size)
            else:
                log.warning("skipped %s on the guest: not a regular file or directory", source)
    for local_dir, mode in reversed(dirs):
        _local(lambda: os.chmod(local_dir, mode & PERM_BITS), local_dir, "setting the mode of")


def _put_file(sftp: Any, local: Path, remote: str, mode: int, on_bytes: OnBytes) -> None:
    with _local(lambda: local.open("rb"), local, "reading") as source:
        size = _local(lambda: os.fstat(source.fileno()).st_size, local, "reading")
        try:
            sftp.putfo(source, remote, file_size=size, callback=lambda done, _all: on_bytes(str(local), done, size),
                       confirm=True)
        except FileNotFoundError:
            raise NotFound(f"remote directory {posixpath.dirname(remote) or '.'} does not exist on the guest",
                           hint="create it first, or pass recursive=True to create it") from None
        except OSError as exc:
            raise _remote_error(exc, remote, "writing") from None
    _remote(lambda: sftp.chmod(remote, mode & PERM_BITS), remote, "setting the mode of")


def _get_file(sftp: Any, remote: str, local: Path, mode: int, on_bytes: OnBytes, size: int | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = _local(lambda: os.open(local, flags, 0o600), local, "writing")
    with os.fdopen(fd, "wb") as target:
        _remote(lambda: sftp.getfo(remote, target, callback=lambda done, _all: on_bytes(remote, done, size or 0)),
                remote, "reading")
        _local(lambda: os.fchmod(target.fileno(), mode & PERM_BITS), local, "setting the mode of")


def _make_local_dir(path: Path) -> None:
    if path.is_symlink():
        raise OperationFailed(f"{path} is a symlink", hint="refusing to copy into a directory through a symlink")
    if not path.is_dir():
        _local(lambda: path.mkdir(mode=0o700), path, "creating directory")


def _remote_is_dir(sftp: Any, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode or 0)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _remote_error(exc, path, "reading") from None


def _remote_makedirs(sftp: Any, path: str) -> None:
    """``mkdir -p`` on the guest (bounded by the path's depth)."""
    missing: list[str] = []
    while path not in ("", "/", ".") and not _remote_is_dir(sftp, path):
        missing.append(path)
        path = posixpath.dirname(path)
    for directory in reversed(missing):
        _remote(lambda: sftp.mkdir(directory, 0o755), directory, "creating directory")


def _local(action: Any, path: Path, doing: str) -> Any:
    try:
        return action()
    except VmctlError:
        raise
    except FileNotFoundError:
        raise NotFound(f"{path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OperationFailed(f"{path} is a symlink", hint="refusing to write through a symlink") from None
        raise OperationFailed(f"{doing} {path} failed: {exc.strerror or exc}") from None


def _remote(action: Any, path: str, doing: str) -> Any:
    try:
        return action()
    except VmctlError:
        raise
    except OSError as exc:
        raise _remote_error(exc, path, doing) from None


def _remote_error(exc: OSError, path: str, doing: str) -> VmctlError:
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"{path} does not exist on the guest")
    if isinstance(exc, PermissionError):
        return OperationFailed(f"{doing} {path} on the guest: permission denied",
                               hint="the SSH user may not access that path")
    return OperationFailed(f"{doing} {path} on the guest failed: {exc.strerror or exc}")
