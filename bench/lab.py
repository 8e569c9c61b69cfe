"""The lab of libvirt hosts on this machine (vmctl.testing.lab), timed: what docs/lab.md
quotes.

1. one host: `LabHost().start()` and `stop()`, with and without its sshd;
2. a lab of two hosts: `Lab.up(2)` and `Lab.down()` (what `vmctl lab up --hosts 2`
   and `vmctl lab down` run), nothing running on it;
3. the first call over `qemu+ssh` to a lab host: vmctl's `Host(uri)` + version vs
   `virsh -c URI version` (the baseline: the same transport, the same helper on the
   far side), alternating.

No guest is booted; every lab is taken down in a `finally`.

    .venv/bin/python bench/lab.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

from vmctl.testing.lab import LabHost  # noqa: E402
from vmctl.testing.lab.testlab import test_lab  # noqa: E402
from vmctl.virt.host import Host  # noqa: E402


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def one_host(runs: int, sshd: bool) -> tuple[list[float], list[float]]:
    starts, stops = [], []
    for _ in range(runs):
        lab = LabHost(sshd=sshd)
        try:
            starts.append(timed(lab.start))
        finally:
            stops.append(timed(lab.stop))
    return starts, stops


def report(title: str, values: list[float]) -> None:
    print(f"  {title:<40} median {statistics.median(values) * 1000:8.1f} ms  "
          f"(n={len(values)}, {min(values) * 1000:.0f}-{max(values) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    print("\n## one lab host")
    for sshd in (False, True):
        starts, stops = one_host(args.runs, sshd)
        report(f"LabHost(sshd={sshd}).start()", starts)
        report(f"LabHost(sshd={sshd}).stop(), idle", stops)

    print("\n## a lab of two hosts")
    ups, downs = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        with test_lab(2) as (lab, status):
            ups.append(time.perf_counter() - started)
            uri = status.hosts[0].uri
            down_started = time.perf_counter()
        downs.append(time.perf_counter() - down_started)
    report("Lab.up(2)", ups)
    report("Lab.down(), idle", downs)

    with test_lab(2) as (lab, status):
        uri = status.hosts[0].uri

        def vmctl_host() -> None:
            with Host(uri) as host:
                host.conn.getVersion()

        def virsh() -> None:
            subprocess.run(["virsh", "-c", uri, "version"], check=True, stdout=subprocess.DEVNULL)
        times = alternate(args.runs, {"virsh -c URI version": virsh, "vmctl Host(URI) + version": vmctl_host})
    summarize("first call over qemu+ssh", times, "virsh -c URI version", 1.0)  # vmctl: in-process, no start-up


if __name__ == "__main__":
    main()
