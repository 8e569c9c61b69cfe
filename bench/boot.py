"""Creating a guest until it has booted, and until SSH answers: vmctl vs plain
QEMU started by hand on the same image (see rawqemu.py), alternating every round.

    .venv/bin/python bench/boot.py [--runs 5] [--warmup 1] [--max-wait 600]

(a) create -> booted: `Vmctl().create(name, wait_boot=True)` until it returns, vs
    qemu-img overlay + seed + qemu-system-x86_64 until `vmctl-guest: boot-finished`
    is read from the serial console.
(b) create -> SSH-ready: `create(name, wait_boot=True, wait_ssh=True)` vs the same
    overlay + seed + QEMU (console to a file) and, from QEMU's start, `ssh ... true`
    (pinned known_hosts) retried every 0.5 s until it succeeds.
    Informative third baseline: QEMU, console marker, then the ssh loop (vmctl's order).

Deleting the VM / stopping QEMU is not timed. Every VM is named bench-boot-*;
leftovers of an interrupted run are removed at start.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, alternate, summarize  # noqa: E402
from rawqemu import (RawQemu, guarded, other_qemus, prepare_guest, qemu_argv,  # noqa: E402
                     ssh_argv, wait_for_ssh)

from vmctl.api import Vmctl  # noqa: E402
from vmctl.errors import NotFound  # noqa: E402
from vmctl.spec.image import Image  # noqa: E402
from vmctl.ssh.keys import ensure_user_key  # noqa: E402

PREFIX = "bench-boot-"
LABELS = {"vmctl.bench": "boot"}  # a leftover is ours only if it carries this (never a VM named alike)
TARGET = 1.2
VMCTL_BOOT = "vmctl create wait_boot"
RAW_BOOT = "qemu-system-x86_64 to marker"
VMCTL_SSH = "vmctl create wait_ssh"
RAW_SSH = "qemu-system-x86_64 + ssh loop"
RAW_BOOT_SSH = "qemu-system-x86_64, marker, ssh"


def delete_quietly(v: Vmctl, name: str) -> None:
    try:
        v.delete(name)
    except NotFound:
        pass


class Boot:
    def __init__(self, image: Image, key: Path) -> None:
        self.image = image
        self.key = key
        self.marker = image.boot_marker.encode()
        self.details: dict[str, list[dict[str, object]]] = {
            name: [] for name in (RAW_BOOT, VMCTL_BOOT, RAW_SSH, VMCTL_SSH, RAW_BOOT_SSH)}

    def vmctl(self, wait_ssh: bool) -> float:
        name = PREFIX + secrets.token_hex(3)
        with Vmctl(labels=LABELS) as v:
            try:
                start = time.perf_counter()
                vm = v.create(name, wait_boot=True, wait_ssh=wait_ssh)
                elapsed = time.perf_counter() - start
                boot_s, ssh_s = vm.boot_seconds or 0.0, vm.ssh_ready_seconds or 0.0
            finally:
                delete_quietly(v, name)  # untimed
        self.details[VMCTL_SSH if wait_ssh else VMCTL_BOOT].append(
            {"total": elapsed, "console_boot": boot_s, "ssh_after_boot": ssh_s,
             "rest_of_create": elapsed - boot_s - ssh_s})
        return elapsed

    def raw(self, until: str) -> float:
        """``until``: "boot" (console marker), "ssh" (ssh loop from QEMU's start) or
        "boot+ssh" (console marker first, then the ssh loop, as vmctl does)."""
        name = PREFIX + "raw"
        with tempfile.TemporaryDirectory(prefix="bench-boot-") as tmp:
            start = time.perf_counter()
            files = prepare_guest(Path(tmp), self.image, name, self.key)
            prepared = time.perf_counter()
            serial = f"file:{tmp}/console.log" if until == "ssh" else "stdio"
            attempts: list[float] = []
            with RawQemu(qemu_argv(self.image, files, serial=serial), Path(tmp) / "qemu.log") as qemu:
                if until != "ssh":
                    qemu.wait_for_console(self.marker)
                booted = time.perf_counter()
                if until != "boot":
                    attempts = wait_for_ssh(ssh_argv(files.port, self.key, files.known_hosts, "true"),
                                            alive=qemu.alive)
                end = time.perf_counter()
            # QEMU is stopped (untimed) when its block ends, even on errors.
        details: dict[str, object] = {"total": end - start, "prepare": prepared - start,
                                      "qemu_start_to_ready": end - prepared}
        if until == "boot+ssh":
            details["ssh_after_boot"] = end - booted
        if attempts:
            details["ssh_attempts"] = len(attempts)
            details["attempt_s"] = [round(a, 3) for a in attempts]
        self.details[{"boot": RAW_BOOT, "ssh": RAW_SSH, "boot+ssh": RAW_BOOT_SSH}[until]].append(details)
        return end - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (page cache, libvirt)")
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="before each run, wait up to this long for a quiet machine (not timed)")
    args = parser.parse_args()

    busy = other_qemus()
    if busy:
        print("warning: other QEMU processes share the CPUs:\n  " + "\n  ".join(busy), file=sys.stderr)
    with Vmctl() as v:
        for vm in v.list(labels=LABELS):
            if vm.name.startswith(PREFIX):
                delete_quietly(v, vm.name)
        image = v.images.get("tiny")
    boot = Boot(image, ensure_user_key())
    plain = {
        RAW_BOOT: lambda: boot.raw("boot"),
        VMCTL_BOOT: lambda: boot.vmctl(False),
        RAW_SSH: lambda: boot.raw("ssh"),
        VMCTL_SSH: lambda: boot.vmctl(True),
        RAW_BOOT_SSH: lambda: boot.raw("boot+ssh"),
    }
    disturbed: dict[str, list[bool]] = {name: [] for name in plain}
    contenders = {name: guarded(fn, disturbed[name], discard=boot.details[name].pop, max_wait=args.max_wait)
                  for name, fn in plain.items()}
    if args.warmup:
        alternate(args.warmup, contenders)
        for runs in (*boot.details.values(), *disturbed.values()):
            runs.clear()
    times = alternate(args.runs, contenders)

    summarize("create to booted", {k: times[k] for k in (RAW_BOOT, VMCTL_BOOT)}, RAW_BOOT, TARGET)
    summarize("create to ssh ready", {k: times[k] for k in (RAW_SSH, VMCTL_SSH)}, RAW_SSH, TARGET)
    # Informative: a baseline that, like vmctl, reads the console marker before trying ssh.
    summarize("create to ssh ready marker first", {k: times[k] for k in (RAW_BOOT_SSH, VMCTL_SSH)},
              RAW_BOOT_SSH, TARGET)
    breakdown = {name: {key: round(statistics.median(r[key] for r in runs), 3)  # type: ignore[misc]
                        for key, value in runs[0].items() if not isinstance(value, list)}
                 for name, runs in boot.details.items()}
    print("\n## breakdown (medians, s)")
    for name, parts in breakdown.items():
        print(f"  {name:<32} " + "  ".join(f"{k} {v:g}" for k, v in parts.items()))
    print("  kept runs disturbed all the same (another QEMU, or others' CPU, after 2 retries): "
          + ", ".join(f"{name} {sum(flags)}/{len(flags)}" for name, flags in disturbed.items()))
    (RESULTS / "boot_breakdown.json").write_text(json.dumps(
        {"median_s": breakdown, "runs": boot.details, "disturbed": disturbed, "other_qemus_at_start": busy},
        indent=1))


if __name__ == "__main__":
    main()
