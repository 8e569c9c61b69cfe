"""The snapshot half of :class:`vmctl.api.Vmctl` (a mixin: it uses the host, pool and
guest access of the object it is part of)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import InvalidInput

if TYPE_CHECKING:
    from vmctl.ops.backup import BackupResult
    from vmctl.ops.revert import RevertResult
    from vmctl.ops.rollback import Checkpoint, RollbackResult
    from vmctl.ops.snapshots import SnapshotInfo
    from vmctl.ops.vms import VmInfo
    from vmctl.progress import Report


class SnapshotApi:
    def snapshot_create(self, name: str, snapshot: str | None = None, *, description: str = "",
                        quiesce: bool = False, disk_only: bool = False,
                        on_stage: "Callable[[str, float], object] | None" = None) -> "SnapshotInfo":
        """A snapshot: with memory for a running VM, of the disk for a shut-off one;
        ``disk_only``: external (libvirt 9.0 cannot revert those). ``on_stage(stage,
        seconds)`` hears of each stage as it is reached."""
        from vmctl.ops.snapshots import create_snapshot

        return create_snapshot(self.host, self.pool, name, snapshot, description=description, quiesce=quiesce,
                               disk_only=disk_only, on_stage=on_stage)

    def snapshot_list(self, name: str) -> "list[SnapshotInfo]":
        """A VM's snapshots, oldest first."""
        from vmctl.ops.snapshots import list_snapshots

        return list_snapshots(self.host, name, self.pools.find())

    def snapshot_info(self, name: str, snapshot: str) -> "SnapshotInfo":
        """One snapshot of a VM."""
        from vmctl.ops.snapshots import get_snapshot

        return get_snapshot(self.host, name, snapshot, self.pools.find())

    def snapshot_revert(self, name: str, snapshot: str, *, state: str = "", wait_ssh: bool = False,
                        timeout: float | None = None,
                        on_stage: "Callable[[str, float], object] | None" = None) -> "RevertResult":
        """Revert; the guest clock is set to the host's, the endpoint read anew. ``on_stage(stage,
        seconds)`` hears of each stage as it is reached."""
        from vmctl.ops.revert import revert_snapshot

        if state not in ("", "running", "paused"):
            raise InvalidInput(f"invalid state {state!r}", hint="running or paused")
        return revert_snapshot(self.host, self.pool, self.guest(), name, snapshot, state=state, wait_ssh=wait_ssh,
                               timeout=timeout, on_stage=on_stage)

    def snapshot_delete(self, name: str, snapshot: str, *, children: bool = False) -> list[str]:
        """Delete a snapshot (and with ``children`` its descendants); returns their names."""
        from vmctl.ops.snapshots import delete_snapshot

        return delete_snapshot(self.host, self.pool, name, snapshot, children=children)

    def snapshot_group_create(self, label: str, names: list[str], *, description: str = "") -> "list[SnapshotInfo]":
        """Snapshot several VMs at one instant (paused together) under ``label``; all or nothing."""
        from vmctl.ops.groups import create_group

        return create_group(self.host, self.pool, label, names, description=description)

    def snapshot_group_revert(self, label: str) -> dict[str, str]:
        """Revert every member of group ``label``; returns member -> snapshot."""
        from vmctl.ops.groups import revert_group

        return revert_group(self.host, self.pool, label)

    def snapshot_group_list(self, label: str) -> "list[SnapshotInfo]":
        """The snapshots of group ``label``, one per member."""
        from vmctl.ops.groups import group_members

        return [self.snapshot_info(vm, snap) for vm, snap in sorted(group_members(self.host, label).items())]

    def checkpoint(self, name: str, *, keep: bool = False) -> "Checkpoint":
        """``with v.checkpoint("web1"): ...`` reverts web1 if the block raises."""
        from vmctl.ops.rollback import Checkpoint

        return Checkpoint(self.host, self.pool, self.guest(), name, keep=keep)

    def snapshot_run(self, name: str, argv: list[str], *, in_guest: bool = False, keep: bool = False, say=None,
                     out=None, err=None) -> "RollbackResult":
        """Run a command (on the host, or with ``in_guest`` in the guest) after a snapshot; revert when it fails."""
        from vmctl.ops.rollback import run_with_rollback

        return run_with_rollback(self.host, self.pool, self.guest(), name, argv, in_guest=in_guest, keep=keep, say=say,
                                 out=out, err=err)


    def backup(self, name: str, dest: str | Path, *, progress: "Report | None" = None) -> "BackupResult":
        """A self-contained, checked copy of a VM in ``dest`` (a new directory); a running VM
        is copied without stopping it. ``progress`` hears the stages and bytes copied."""
        from vmctl.ops.backup import backup_vm

        return backup_vm(self.host, self.pool, name, Path(dest), progress=progress)

    def restore(self, src: str | Path, *, name: str | None = None, progress: "Report | None" = None) -> "VmInfo":
        """A new VM from a backup (untrusted input: its manifest, files and definition are
        checked first, see ops.backup); returns its info. ``progress`` hears the stages and
        bytes uploaded."""
        from vmctl.ops.backup import restore_vm

        return self.info(restore_vm(self.host, self.pool, Path(src), name=name, progress=progress))
