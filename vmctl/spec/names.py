"""Names vmctl accepts for VMs, images, templates, users and networks (one allowlist)."""

from __future__ import annotations

import re

from vmctl.errors import InvalidInput

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
MAC_RE = re.compile(r"^52:54:00(:[0-9a-f]{2}){3}$")


def check_name(name: str, what: str = "VM") -> str:
    """Return ``name`` if it matches the allowlist, else raise InvalidInput."""
    if not isinstance(name, str) or not NAME_RE.match(name) or name.endswith((".", "-")):
        raise InvalidInput(
            f"invalid {what} name {name!r}",
            hint="names are 1-63 characters: lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
        )
    return name
