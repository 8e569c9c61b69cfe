"""Hosts vmctl knows besides the one it works on: the libvirt hosts a repair may
connect to without the user naming them (see :mod:`vmctl.policy.peers`), and whose
domains a volume removal asks about (:mod:`vmctl.ops.volumes`).

Today these are the hosts of the lab ``vmctl lab up`` made: its ``lab.json`` (root's,
0600) in ``VMCTL_LAB_DIR`` or ``/var/lib/vmctl-lab``. Each host is reached as
``vmctl lab status`` shows it (``qemu+ssh`` through the lab's own ssh, the URI a user
types) or, by root on this machine, through its libvirtd's unix socket. An inventory
of hosts will extend :func:`lab_hosts`' callers. A state file anyone but root (or this
user) could write names no host: it would let that user pick the programs and
sockets libvirt's client uses.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

DEFAULT_LAB_DIR = Path("/var/lib/vmctl-lab")  # vmctl.testing.lab.cluster.DEFAULT_DIR
SOCKET = Path("run") / "libvirt-sock"         # vmctl.testing.lab.layout.Layout.socket


@dataclass(frozen=True)
class LabHostEntry:
    name: str
    uuid: str      # its libvirt host UUID
    uri: str       # qemu+unix through its socket (this machine's root only)
    ssh_uri: str   # qemu+ssh as `vmctl lab status` shows it ("" without an address)


def lab_dir() -> Path:
    return Path(os.environ.get("VMCTL_LAB_DIR") or DEFAULT_LAB_DIR)


def _trusted_file(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_uid in (0, os.geteuid()) and not st.st_mode & 0o022


def _ssh_uri(root: Path, address: str, host_root: Path) -> str:
    """``vmctl.testing.lab.sshd.ssh_uri`` over the lab's layout (a unit test keeps the two equal)."""
    params = [("keyfile", host_root / "ssh" / "client_ed25519_key"), ("known_hosts", root / "state" / "known_hosts"),
              ("no_tty", "1"), ("command", root / "state" / "ssh")]
    return f"qemu+ssh://root@{address}/system?" + "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params)


def lab_hosts(root: Path | None = None) -> list[LabHostEntry]:
    """The lab at ``root`` (default: :func:`lab_dir`)'s hosts; none without a lab, or
    with a state file that is torn or others could write."""
    root = root or lab_dir()
    state_file = root / "lab.json"
    if not _trusted_file(root) or not _trusted_file(state_file):
        return []
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return []
    found = []
    for record in state.get("hosts", []) if isinstance(state, dict) else []:
        if not isinstance(record, dict) or not record.get("root") or not record.get("name"):
            continue  # killed before its root existed, or not a host record
        host_root = Path(str(record["root"]))
        address = str(record.get("address") or "")
        found.append(LabHostEntry(str(record["name"]), str(record.get("host_uuid", "")),
                                  f"qemu+unix:///system?socket={host_root / SOCKET}",
                                  _ssh_uri(root, address, host_root) if address else ""))
    return found


def lab_host_uris(root: Path) -> list[str]:
    """The URIs of the lab at ``root``'s hosts, as ``vmctl lab status`` shows them."""
    return [h.ssh_uri for h in lab_hosts(root) if h.ssh_uri]


def known_host_uris() -> list[str]:
    """Every libvirt URI vmctl knows a host by (what a repair may reach unasked)."""
    return lab_host_uris(lab_dir())
