"""Live migration: `vmctl migrate` vs `virsh migrate --live` of the same guest between
the same two lab hosts, alternating every round (each moves the guest from where it
is to the other host), for an idle guest and for a guest rewriting memory.

    .venv/bin/python bench/migrate.py [--runs 6] [--warmup 2]

Both are command-line programs going through the same libvirt client library and
the same SSH transport to the same hosts; the guest (512 MiB, TCG) lives on the
lab's shared storage. virsh gets the flags vmctl uses for shared storage:
--live --persistent --undefinesource --unsafe --abort-on-error. Timed: the whole
command, from start to exit. Downtime: vmctl's result (libvirt's completed job
statistics on the destination), and `virsh domjobinfo --completed` there for virsh.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, summarize  # noqa: E402

from vmctl.api import Vmctl  # noqa: E402
from vmctl.testing.lab.testlab import LabView, test_lab  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.1
DIRTIER = ("dd if=/dev/urandom of=/tmp/src bs=1M count=64 2>/dev/null; "
           "(while :; do cp /tmp/src /tmp/dst; done) </dev/null >/dev/null 2>&1 &")


class Mover:
    """Moves the guest to the other host with vmctl or virsh; records downtimes."""

    def __init__(self, lab: LabView, name: str) -> None:
        self.lab, self.name = lab, name
        self.downtime: dict[str, list[int]] = {"vmctl migrate": [], "virsh migrate --live": []}
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "VMCTL_POOL": "shared"}

    def ends(self) -> tuple[str, str]:
        here = self.lab.where(self.name)
        assert len(here) == 1, here
        there = "lab2" if here[0] == "lab1" else "lab1"
        return self.lab.host(here[0]).uri, self.lab.host(there).uri

    def vmctl(self) -> float:
        src, dest = self.ends()
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "vmctl", "-c", src, "migrate", self.name, dest, "--json"],
                              env=self.env, capture_output=True, text=True, timeout=600)
        took = time.perf_counter() - start
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        result = json.loads(done.stdout.splitlines()[-1])
        self.downtime["vmctl migrate"].append(result["downtime_ms"])
        return took

    def virsh(self) -> float:
        src, dest = self.ends()
        start = time.perf_counter()
        subprocess.run(["virsh", "-c", src, "migrate", "--live", "--persistent", "--undefinesource", "--unsafe",
                        "--abort-on-error", self.name, dest], check=True, capture_output=True, timeout=600)
        took = time.perf_counter() - start
        info = subprocess.run(["virsh", "-c", dest, "domjobinfo", self.name, "--completed"], check=True,
                              capture_output=True, text=True, timeout=60).stdout
        self.downtime["virsh migrate --live"].append(int(re.search(r"Total downtime:\s+(\d+)", info).group(1)))
        return took


def rounds(runs: int, contenders: dict) -> dict[str, list[float]]:
    """Each round runs every contender once, in turn; the order flips every round, so
    each contender moves the guest lab1 -> lab2 as often as lab2 -> lab1."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(runs):
        order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
        for name in order:
            times[name].append(contenders[name]())
    return times


def bench(lab: LabView, name: str, title: str, runs: int, warmup: int) -> dict:
    mover = Mover(lab, name)
    contenders = {"vmctl migrate": mover.vmctl, "virsh migrate --live": mover.virsh}
    rounds(warmup, contenders)
    for values in mover.downtime.values():
        values.clear()
    summary = summarize(title, rounds(runs, contenders), "virsh migrate --live", TARGET)
    downtime = {k: statistics.median(v) for k, v in mover.downtime.items()}
    summary["downtime_ms"] = {k: v for k, v in mover.downtime.items()}
    summary["median_downtime_ms"] = downtime
    for k, v in downtime.items():
        print(f"  {k:<28} median downtime {v:.0f} ms  {mover.downtime[k]}")
    (RESULTS / f"{title.replace(' ', '_')}.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    name = f"bench-mig-{secrets.token_hex(3)}"
    with test_lab(2) as (the_lab, status):
        lab = LabView(the_lab, status)
        with Vmctl(status.hosts[0].uri, pool="shared") as v:
            v.build_tiny()
            v.create(name, wait_boot=True, wait_ssh=True)
        bench(lab, name, "live migration idle guest", args.runs, args.warmup)
        src = lab.where(name)[0]
        with Vmctl(lab.host(src).uri, pool="shared") as v:
            assert v.exec(name, ["sh", "-c", DIRTIER]) == 0
        time.sleep(2)
        bench(lab, name, "live migration guest dirtying memory", args.runs, args.warmup)
    return 0


if __name__ == "__main__":
    sys.exit(main())
