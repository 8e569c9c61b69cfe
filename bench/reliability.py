"""Reliability timings (issue: operations that survive kills):

1. SIGTERM -> exit with everything undone: `vmctl create NAME --wait boot` is held
   just after QEMU started (test checkpoint), let go into the boot wait, and sent
   SIGTERM; timed from the signal until the process has exited (by then it has
   undone the domain and volumes; checked). Target <= 2 s.
2. `vmctl repair` cleaning 10 creates killed with SIGKILL after define (domain,
   two volumes and an intent record each). Target <= 1 s. Side by side: the same
   clean-up by hand with virsh (destroy + undefine + 3 vol-delete per VM, one virsh
   process per command), as a script would do it.

    .venv/bin/python bench/reliability.py [--runs 5] [--killed 10]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import summarize  # noqa: E402

from vmctl.testing.pause import PausedVmctl  # noqa: E402

VMCTL = [str(ROOT / ".venv/bin/python"), "-m", "vmctl"]


def leftovers(name: str) -> list[str]:
    doms = subprocess.run(["virsh", "list", "--all", "--name"], capture_output=True, text=True).stdout.split()
    vols = subprocess.run(["virsh", "vol-list", "vmctl"], capture_output=True, text=True).stdout
    return [d for d in doms if d == name] + [line.split()[0] for line in vols.splitlines() if name in line]


def sigterm_to_exit(runs: int) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            name = f"bench-term-{i}"
            held = PausedVmctl(["create", name, "--wait", "boot"], "create:started", Path(tmp))
            held.release()
            time.sleep(1.0)  # inside the boot wait
            code, seconds, err = held.stop(signal.SIGTERM)
            times.append(seconds)
            assert code == 143, err
            assert leftovers(name) == [], leftovers(name)
    return times


def kill_creates(count: int, prefix: str) -> None:
    """``count`` creates held after define at the same time, then all killed (one after
    the other they would not pile up: each create first repairs the dead ones before it)."""
    with tempfile.TemporaryDirectory() as tmp:
        held = [PausedVmctl(["create", f"{prefix}-{i}", "--no-start"], "create:defined", Path(tmp))
                for i in range(count)]
        for proc in held:
            proc.kill()


def by_hand(count: int, prefix: str) -> None:
    for i in range(count):
        name = f"{prefix}-{i}"
        for argv in (["virsh", "-q", "undefine", name],
                     *(["virsh", "-q", "vol-delete", "--pool", "vmctl", vol]
                       for vol in (f"{name}-vda.qcow2", f"{name}-seed.iso", f"{name}.intent.json"))):
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--killed", type=int, default=10)
    args = parser.parse_args()
    term = sigterm_to_exit(args.runs)
    print(f"\n## SIGTERM -> exit, everything undone\n  median {statistics.median(term):.3f} s, "
          f"max {max(term):.3f} s (n={len(term)}, target <= 2 s)")
    repair_times, hand_times = [], []
    for round_ in range(args.runs):
        kill_creates(args.killed, f"bench-kill-{round_}")
        started = time.perf_counter()
        subprocess.run([*VMCTL, "repair"], check=True, stdout=subprocess.DEVNULL)
        repair_times.append(time.perf_counter() - started)
        assert not any(leftovers(f"bench-kill-{round_}-{i}") for i in range(args.killed))
        kill_creates(args.killed, f"bench-hand-{round_}")
        started = time.perf_counter()
        by_hand(args.killed, f"bench-hand-{round_}")
        hand_times.append(time.perf_counter() - started)
    summarize(f"repair {args.killed} killed creates",
              {"virsh by hand": hand_times, "vmctl repair": repair_times}, "virsh by hand", 1.0)
    print(f"  (target: vmctl repair <= 1 s; median {statistics.median(repair_times):.3f} s)")


if __name__ == "__main__":
    main()
