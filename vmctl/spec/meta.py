"""vmctl's own facts about a VM (kept in the domain's metadata; see libvirtxml/metadata.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VmMeta:
    """vmctl's own facts about a VM, kept in the domain's <metadata>."""

    image: str = ""
    template: str = ""
    accel_reason: str = ""
    ssh_user: str = "root"
    ssh_port: int | None = None
    ssh_host_key: str = ""   # the guest's pinned public host key ("ssh-ed25519 AAAA...")
    ssh_key_path: str = ""   # the private key vmctl logs in with, if not the default
    provisioned: tuple[str, ...] = ()  # keys of completed provisioning steps
    volumes: tuple[str, ...] = ()      # volumes vmctl made for this VM in its pool (delete removes exactly these)
    # (name, consistency, group) of each complete snapshot vmctl took: "memory", "quiesced"
    # or "crash-consistent"; a libvirt snapshot without a note here is incomplete.
    snapshots: tuple[tuple[str, str, str], ...] = ()
    # (key, value) pairs, sorted by key, checked by spec.names.check_labels: who the VM
    # belongs to (a stack, a CI job, a test run); like volumes, they survive a revert.
    labels: tuple[tuple[str, str], ...] = ()
