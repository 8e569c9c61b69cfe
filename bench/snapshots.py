"""Snapshots, side by side in one run (tiny guest, TCG):

1. revert of a running snapshot: `vmctl snapshot revert` (as a process) vs `virsh
   snapshot-revert` of the same snapshot (target <= 1.1x). vmctl also puts back its
   metadata and sets the guest clock over SSH; the breakdown is printed.
2. "fast reset" a CI job gains: revert -> SSH answers (`vmctl snapshot revert --wait
   ssh`) vs create -> SSH answers (`vmctl create --wait ssh`) (target <= 0.3x, aim
   <= 1 s); and, for comparison, what libvirt's other memory-state mechanism costs:
   `virsh save` once, then `virsh restore` -> SSH answers.
3. backup throughput: `vmctl backup` of a shut-off VM vs `qemu-img convert` of the
   same disk (flattened, the same work); MB/s of virtual disk.

    .venv/bin/python bench/snapshots.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

VMCTL = [str(ROOT / ".venv/bin/vmctl")]


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["revert", "backup"], help="run one part only")
    parser.add_argument("--data-mib", type=int, default=256, help="data written in the guest before backups")
    args = parser.parse_args()
    from vmctl.api import Vmctl

    name = "bench-snap"
    with Vmctl() as v:
        if name in {vm.name for vm in v.list()}:
            v.delete(name)
        v.create(name, wait_boot=True, wait_ssh=True)
        try:
            if args.only != "backup":
                revert_part(v, name, args.runs)
            if args.only != "revert":
                backup_part(v, name, args.runs, args.data_mib)
        finally:
            for vm in (name, "bench-snap-new"):
                if vm in {x.name for x in v.list()}:
                    v.delete(vm)


def revert_part(v, name: str, runs: int) -> None:
    v.snapshot_create(name, "base")
    v.snapshot_revert(name, "base")  # warm up
    reverts = alternate(runs, {
        "virsh snapshot-revert": lambda: sh("virsh", "-q", "snapshot-revert", name, "base"),
        "vmctl snapshot revert": lambda: sh(*VMCTL, "snapshot", "revert", name, "base"),
    })
    parts = [v.snapshot_revert(name, "base") for _ in range(3)]
    print("vmctl revert parts (libvirt's revert inside): "
          f"{statistics.median(p.seconds for p in parts):.2f} s; clock set by {parts[0].clock}")

    def create_to_ssh() -> float:
        started = time.perf_counter()
        sh(*VMCTL, "create", "bench-snap-new", "--wait", "ssh")
        took = time.perf_counter() - started
        v.delete("bench-snap-new")
        return took
    resets = alternate(runs, {
        "create -> SSH": create_to_ssh,
        "revert -> SSH": lambda: sh(*VMCTL, "snapshot", "revert", name, "base", "--wait", "ssh"),
    })
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "mem.sav"
        sh("virsh", "-q", "save", name, str(state), "--running")
        restores = alternate(runs, {
            "virsh restore -> SSH": lambda: (sh("virsh", "-q", "destroy", name) if
                                             v.info(name).state == "running" else None,
                                             sh("virsh", "-q", "restore", str(state)),
                                             sh(*VMCTL, "wait", name, "--for", "ssh"), None)[-1],
        })
    summarize("snapshot revert", reverts, "virsh snapshot-revert", 1.1)
    summarize("fast reset", {**resets, **restores}, "create -> SSH", 0.3)
    v.snapshot_delete(name, "base")


def backup_part(v, name: str, runs: int, data_mib: int) -> None:
    """A shut-off VM with ``data_mib`` MiB written in its disk: both flatten the same chain."""
    v.exec(name, ["sh", "-c", f"dd if=/dev/urandom of=/root/big bs=1M count={data_mib} 2>/dev/null; sync"])
    v.stop(name, force=True)
    backups: dict[str, list[float]] = {"qemu-img convert": [], "vmctl backup": []}
    disk = f"{v.pool.path}/{name}-vda.qcow2"
    for _ in range(runs):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            started = time.perf_counter()
            sh("qemu-img", "convert", "-O", "qcow2", disk, f"{tmp}/flat.qcow2")
            backups["qemu-img convert"].append(time.perf_counter() - started)
            started = time.perf_counter()
            sh(*VMCTL, "backup", name, f"{tmp}/backup")
            backups["vmctl backup"].append(time.perf_counter() - started)
            size = Path(f"{tmp}/flat.qcow2").stat().st_size
    summary = summarize("backup", backups, "qemu-img convert", 1.5)
    for who, median in summary["median_s"].items():
        print(f"  {who}: {size / 2**20 / median:.0f} MiB/s of flattened image ({size >> 20} MiB)")


if __name__ == "__main__":
    main()
