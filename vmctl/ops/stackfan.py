"""One file copy or one backup for each VM of a stack (`cp --stack`, `backup --stack`),
bounded in parallel by :func:`vmctl.ops.fanout.fan_out`: a VM that fails is that VM's
outcome, the others are still done.

`cp --stack` writes the guest side as ``:/path`` (no VM name: every VM of the stack).
Host to guests copies the same source to each VM; guests to host copies each VM's file
into ``DEST/VMNAME/`` (made if missing), so the VMs' files never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.ops.fanout import FanOutSummary, LineSink, fan_out

if TYPE_CHECKING:
    from vmctl.ops.backup import BackupResult


@dataclass(frozen=True)
class CopyJob:
    """One VM's copy: ``src`` and ``dest`` as `vmctl cp` takes them (one side ``VM:/path``);
    ``local_dir``: the host directory to make first (guests to host), else None."""

    vm: str
    src: str
    dest: str
    local_dir: str | None = None


def copy_jobs(names: Sequence[str], src: str, dest: str) -> list[CopyJob]:
    """Each VM's copy for `cp --stack SRC DEST`; exactly one side is ``:/path``."""
    if src.startswith(":") == dest.startswith(":"):
        raise InvalidInput("with --stack, exactly one side of vmctl cp is the guests' path, written :/path",
                           hint="vmctl cp --stack web ./app.conf :/etc/app.conf, "
                           "or vmctl cp --stack web :/var/log/app.log ./logs")
    guest = (src if src.startswith(":") else dest)[1:]
    if not guest:
        raise InvalidInput("the guests' path after ':' is empty", hint="e.g. :/root/ or :/etc/app.conf")
    if dest.startswith(":"):
        return [CopyJob(vm, src, f"{vm}:{guest}") for vm in names]
    return [CopyJob(vm, f"{vm}:{guest}", str(Path(dest) / vm), str(Path(dest) / vm)) for vm in names]


def copy_many(copy_one: Callable[[str, str], object], names: Sequence[str], src: str, dest: str, *,
              parallel: int, write: Callable[[str], None]) -> FanOutSummary:
    """``copy_one(src, dest)`` (a `vmctl cp`, on the worker's own connection) for each VM;
    a line ``VM | copied SRC -> DEST`` for each copy done."""
    jobs = {job.vm: job for job in copy_jobs(names, src, dest)}
    if jobs and next(iter(jobs.values())).local_dir is not None and Path(dest).exists() and not Path(dest).is_dir():
        raise Conflict(f"{dest} is not a directory", hint="give a directory: each VM's file goes into DEST/VMNAME/")

    def action(vm: str, sink: LineSink) -> int:
        job = jobs[vm]
        if job.local_dir is not None:
            Path(job.local_dir).mkdir(parents=True, exist_ok=True)
        copy_one(job.src, job.dest)
        sink.out(f"copied {job.src} -> {job.dest}\n".encode())
        return 0

    return fan_out(list(jobs), action, parallel=parallel, write=write)


def backup_many(backup_one: Callable[[str, Path], "BackupResult"], names: Sequence[str], dest: Path, *,
                parallel: int, write: Callable[[str], None]) -> tuple[FanOutSummary, dict[str, "BackupResult"]]:
    """``backup_one(vm, DEST/VM)`` for each VM (DEST is made if missing; each VM's
    directory must be new, as for `vmctl backup`); a line ``VM | backed up to ...`` each."""
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise Conflict(f"{dest} is not a directory", hint="give a directory: each VM's backup goes into DEST/VMNAME")
    if not dest.parent.is_dir():
        raise NotFound(f"{dest.parent} does not exist", hint="create it first")
    dest.mkdir(exist_ok=True)
    done: dict[str, "BackupResult"] = {}

    def action(vm: str, sink: LineSink) -> int:
        result = backup_one(vm, dest / vm)
        done[vm] = result
        size = sum(result.files.values())
        sink.out(f"backed up to {result.path}: {len(result.files)} files, {size >> 20} MiB in {result.seconds:.1f} s"
                 f"{' (while running)' if result.running else ''}\n".encode())
        return 0

    return fan_out(list(names), action, parallel=parallel, write=write), done
