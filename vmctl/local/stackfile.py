"""Reading a stack file from disk (the parsing and checks are vmctl.spec.stack: pure)."""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path

from vmctl.errors import InvalidInput, NotFound
from vmctl.spec.stack import Stack, parse_stack

MAX_BYTES = 1024 * 1024
DEFAULT_FILE = "stack.yaml"


def load_stack(path: Path, env: Mapping[str, str]) -> Stack:
    """The checked stack in ``path`` (a file, or a directory holding ``stack.yaml``). Its
    name defaults to the name of the directory the file is in. Raises NotFound for a
    missing file and InvalidInput for anything wrong in it."""
    path = Path(path)
    if path.is_dir():
        path = path / DEFAULT_FILE
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotFound(f"no stack file {path}", hint=f"give the file with -f FILE, or create {DEFAULT_FILE}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", hint="check the path and permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{path} is not a regular file", hint="give the path of a stack file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", hint="check the permissions") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{path} is larger than 1 MiB", hint="a stack file is a short description: keep it small")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", hint="save the file as UTF-8") from None
    return parse_stack(text, str(path), env, default_name=path.absolute().parent.name)
