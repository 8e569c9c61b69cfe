"""The #cloud-config vmctl puts in a VM's seed, merged with the user's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from vmctl.errors import InvalidInput
from vmctl.ssh.keys import KeyPair
from vmctl.local.userfiles import read_user_file

MAX_USER_DATA = 256 * 1024


def load_user_data(path: Path) -> dict[str, Any]:
    """A user's cloud-config file (YAML mapping; '#cloud-config' header optional)."""
    text = read_user_file(path, what="user-data", limit=MAX_USER_DATA,
                          hint="give --user-data PATH of a cloud-config file").decode("utf-8", "replace")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InvalidInput(f"user-data {path} is not valid YAML: {exc}", hint="fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"user-data {path} is not a cloud-config mapping", hint="start with '#cloud-config'")
    return data


def build_user_data(*, hostname: str, user: str, default_user: str, authorized_key: str,
                    host_key: KeyPair, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """vmctl's keys merged into the user's cloud-config: lists are extended,
    vmctl's host key wins (it is what vmctl pins)."""
    data: dict[str, Any] = dict(extra or {})
    data["hostname"] = hostname
    keys = list(data.get("ssh_authorized_keys") or [])
    if authorized_key not in keys:
        keys.append(authorized_key)
    data["ssh_authorized_keys"] = keys
    ssh_keys = dict(data.get("ssh_keys") or {})
    ssh_keys["ed25519_private"] = host_key.private_openssh
    ssh_keys["ed25519_public"] = host_key.public_line
    data["ssh_keys"] = ssh_keys
    if user not in ("root", default_user):
        users = list(data.get("users") or ["default"])
        users.append({"name": user, "ssh_authorized_keys": [authorized_key], "shell": "/bin/sh",
                      "sudo": "ALL=(ALL) NOPASSWD:ALL"})
        data["users"] = users
    if user == "root":
        data.setdefault("disable_root", False)
    return data
