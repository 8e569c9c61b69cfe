"""The hosts of the lab on this machine (`vmctl lab up`), read from its state file.

The lab records each host in ``lab.json`` (root's, 0600) under its directory
(``VMCTL_LAB_DIR``, default ``/var/lib/vmctl-lab``); its libvirtd listens on a unix
socket in the host's directory (``run/libvirt-sock``, see vmctl.testing.lab.layout,
which runtime code may not import). Without a lab, or without the right to read
it, there are none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DIR = Path("/var/lib/vmctl-lab")  # vmctl.testing.lab.cluster.DEFAULT_DIR
SOCKET = Path("run") / "libvirt-sock"     # vmctl.testing.lab.layout.Layout.socket


@dataclass(frozen=True)
class LabHostEntry:
    name: str
    uuid: str   # its libvirt host UUID
    uri: str    # qemu+unix through its socket (this machine's root only)


def lab_dir() -> Path:
    return Path(os.environ.get("VMCTL_LAB_DIR") or DEFAULT_DIR)


def lab_hosts(root: Path | None = None) -> list[LabHostEntry]:
    state_file = (root or lab_dir()) / "lab.json"
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return []
    found = []
    for record in state.get("hosts", []) if isinstance(state, dict) else []:
        if not isinstance(record, dict) or not record.get("root") or not record.get("name"):
            continue
        socket = Path(str(record["root"])) / SOCKET
        found.append(LabHostEntry(str(record["name"]), str(record.get("host_uuid", "")),
                                  f"qemu+unix:///system?socket={socket}"))
    return found
