"""Where the embedded guest's boot goes (issue: a faster embedded guest, target <= 3 s).

Creates `tiny` VMs one after another and reads, from inside each, the guest's own
clock at each stage: the kernel's log (dmesg timestamps: root disk driver, the
CD-ROM with the seed found, root mounted) and the boot script's stamps
(/run/vmctl/boot.log: mounts, seed applied, sshd listening, boot finished).
Prints the median of each stage (seconds since the kernel started), and the
host-side create -> booted and create -> SSH of the same VMs.

    .venv/bin/python bench/bootparts.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vmctl.api import Vmctl  # noqa: E402

KERNEL_STAGES = {  # dmesg line -> stage
    r"virtio_blk .*\[vda\]": "kernel: root disk driver loaded",
    r"Attached scsi CD-ROM": "kernel: seed CD-ROM attached (ata_piix, sr_mod)",
    r"EXT4-fs \(vda\): mounted": "kernel: root file system mounted",
}


def stages_of(api: Vmctl, name: str) -> dict[str, float]:
    out: list[bytes] = []
    api.exec(name, ["sh", "-c", "dmesg; echo ---; cat /run/vmctl/boot.log"], out=out.append)
    dmesg, _, bootlog = b"".join(out).decode().partition("---\n")
    found: dict[str, float] = {}
    for line in dmesg.splitlines():
        match = re.match(r"\[\s*([0-9.]+)\] (.*)", line)
        if not match:
            continue
        for pattern, stage in KERNEL_STAGES.items():
            if stage not in found and re.search(pattern, match.group(2)):
                found[stage] = float(match.group(1))
    for line in bootlog.splitlines():
        up, _, what = line.partition(" ")
        found[f"boot.sh: {what}"] = float(up)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    api = Vmctl(labels={"vmctl.bench": "bootparts"})
    samples: dict[str, list[float]] = {}
    for _ in range(args.runs):
        name = f"bench-parts-{os.urandom(3).hex()}"
        started = time.perf_counter()
        vm = api.create(name, wait_boot=True)
        booted = time.perf_counter() - started
        api.wait(name)
        ready = time.perf_counter() - started
        try:
            for stage, seconds in {**stages_of(api, name), "host: create -> booted": booted,
                                   "host: create -> SSH": ready,
                                   "host: console boot (resume -> marker)": vm.boot_seconds or 0.0}.items():
                samples.setdefault(stage, []).append(seconds)
        finally:
            api.delete(name)
    print(f"\n## where the tiny guest's boot goes (n={args.runs}; guest stages: seconds since the kernel started)")
    for stage, values in sorted(samples.items(), key=lambda kv: statistics.median(kv[1])):
        print(f"  {stage:<48} median {statistics.median(values):6.2f} s   runs {[round(v, 2) for v in values]}")


if __name__ == "__main__":
    main()
