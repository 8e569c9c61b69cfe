"""The hosts inventory file on this machine: where it is, reading it, and changing it
safely (a lock against concurrent ``host add``, an atomic 0600 rewrite).

The file is ``$VMCTL_HOSTS`` when set (CI: a file checked in or made by the job; it is
then read *and* written there), else ``hosts.yaml`` in the user's config directory
(``~/.config/vmctl/hosts.yaml`` on Linux). A missing file is an empty inventory.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from vmctl.errors import InvalidInput, OperationFailed
from vmctl.local.privatefile import write_private
from vmctl.spec.hosts import HostEntry, inventory_document, parse_inventory

ENV = "VMCTL_HOSTS"
MAX_BYTES = 1 << 20
HEADER = ("# vmctl hosts inventory (docs/cli.md, 'Hosts inventory'): `vmctl host add/rm` rewrite this file;\n"
          "# no secrets here (URIs with a password are refused).\n")


def inventory_path() -> Path:
    """``$VMCTL_HOSTS``, else ``hosts.yaml`` in the user's config directory."""
    named = os.environ.get(ENV)
    if named:
        return Path(named).expanduser()
    from platformdirs import user_config_path

    return user_config_path("vmctl") / "hosts.yaml"


def read_inventory(path: Path) -> tuple[HostEntry, ...]:
    """The checked entries of ``path`` (none if it does not exist)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return ()
    except IsADirectoryError:
        raise InvalidInput(f"hosts inventory {path} is a directory", hint=f"point {ENV} at a file") from None
    except PermissionError:
        raise OperationFailed(f"cannot read the hosts inventory {path}: permission denied",
                              hint="it should belong to you, mode 0600") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"hosts inventory {path} is larger than {MAX_BYTES} bytes", hint="is it the right file?")
    return parse_inventory(_load_yaml(data, path), str(path))


def _load_yaml(data: bytes, path: Path) -> object:
    import yaml

    try:
        return yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInput(f"{path}:{where}: {problem}", hint="fix the file's YAML (see docs/cli.md, "
                           "'Hosts inventory')") from None


def dump_inventory(entries: tuple[HostEntry, ...]) -> str:
    import yaml

    return HEADER + yaml.safe_dump(inventory_document(entries), sort_keys=False, default_flow_style=False)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``.NAME.lock`` next to the file (readers need none: writes are atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = path.with_name(f".{path.name}.lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except PermissionError:
        raise OperationFailed(f"cannot change the hosts inventory {path}: its directory is not writable",
                              hint=f"set {ENV} to a file in a writable directory") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # (bounded: holders only read, change and rename a small file)
        yield
    finally:
        os.close(fd)  # releases the lock


def update_inventory(path: Path, change: Callable[[tuple[HostEntry, ...]], tuple[HostEntry, ...]]
                     ) -> tuple[HostEntry, ...]:
    """Read, ``change`` and rewrite ``path`` under its lock, so that two processes adding at
    once both keep their entry; the file is replaced atomically with mode 0600."""
    with _locked(path):
        entries = change(read_inventory(path))
        try:
            write_private(path, dump_inventory(entries))
        except PermissionError:
            raise OperationFailed(f"cannot write the hosts inventory {path}: permission denied",
                                  hint=f"set {ENV} to a file in a writable directory") from None
        return entries
