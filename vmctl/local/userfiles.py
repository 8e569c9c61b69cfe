"""Reading small files the user names (templates, cloud-config): bounded and with clear errors."""

from __future__ import annotations

from pathlib import Path

from vmctl.errors import InvalidInput, NotFound, OperationFailed


def read_user_file(path: Path, *, what: str, limit: int, hint: str) -> bytes:
    """The bytes of ``path``; NotFound (with ``hint``) if missing, InvalidInput if too
    large or a directory."""
    try:
        if path.stat().st_size > limit:
            raise InvalidInput(f"{what} {path} is too large", hint=f"at most {limit} bytes")
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"no {what} file {path}", hint=hint) from None
    except IsADirectoryError:
        raise InvalidInput(f"{what} {path} is a directory", hint=hint) from None
    except PermissionError:
        raise OperationFailed(f"cannot read {what} {path}: permission denied", hint=hint) from None
