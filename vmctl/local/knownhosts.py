"""Hosts vmctl knows: the libvirt URIs a repair may connect to without the user
naming them (see :mod:`vmctl.policy.peers`).

Today these are the hosts of the lab ``vmctl lab up`` made (its ``lab.json``, in
``VMCTL_LAB_DIR`` or ``/var/lib/vmctl-lab``); an inventory of hosts will extend
:func:`known_host_uris`. A state file anyone but root (or this user) could write
names no known host: it would let that user pick the programs libvirt runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

DEFAULT_LAB_DIR = Path("/var/lib/vmctl-lab")


def _trusted_file(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


def lab_host_uris(root: Path) -> list[str]:
    """The URIs of the lab at ``root``'s hosts, as ``vmctl lab status`` shows them
    (``vmctl.testing.lab.sshd.ssh_uri`` over the lab's layout; a unit test keeps the two equal)."""
    state_file = root / "lab.json"
    if not _trusted_file(root) or not _trusted_file(state_file):
        return []
    try:
        state = json.loads(state_file.read_text())
        hosts = [(str(h["address"]), Path(str(h["root"]))) for h in state.get("hosts", [])
                 if h.get("address") and h.get("root")]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return []
    uris = []
    for address, host_root in hosts:
        params = [("keyfile", host_root / "ssh" / "client_ed25519_key"), ("known_hosts", root / "state" / "known_hosts"),
                  ("no_tty", "1"), ("command", root / "state" / "ssh")]
        uris.append(f"qemu+ssh://root@{address}/system?" + "&".join(f"{k}={quote(str(v), safe='/')}"
                                                                     for k, v in params))
    return uris


def known_host_uris() -> list[str]:
    """Every libvirt URI vmctl knows a host by."""
    return lab_host_uris(Path(os.environ.get("VMCTL_LAB_DIR") or DEFAULT_LAB_DIR))
