"""`vmctl up` of a three-VM stack vs the same three VMs made one after the other with
`vmctl create --wait ssh` (issue 16, item 8: target <= 0.6x wall time on two cores, the
waits overlapping), tiny guest under TCG, alternated in one run; each side's VMs are
removed after its round (not timed).

    .venv/bin/python bench/stacks.py [--runs 3] [--parallel 4]
"""

from __future__ import annotations

import argparse
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
NAMES = ["bench-st-a", "bench-st-b", "bench-st-c"]
STACK = "version: 1\nname: bench-st\nvms:\n" + "".join(f"  {n}: {{}}\n" for n in NAMES)


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    args = parser.parse_args()
    from vmctl.api import Vmctl

    with tempfile.TemporaryDirectory() as tmp, Vmctl() as v:
        stack = Path(tmp) / "stack.yaml"
        stack.write_text(STACK)

        def clean() -> None:
            for name in NAMES:
                if name in {vm.name for vm in v.list()}:
                    v.delete(name)

        def sequential() -> float:
            started = time.perf_counter()
            for name in NAMES:
                sh(*VMCTL, "-q", "create", name, "--wait", "ssh")
            took = time.perf_counter() - started
            clean()
            return took

        def up() -> float:
            started = time.perf_counter()
            sh(*VMCTL, "-q", "up", "-f", str(stack), "--parallel", str(args.parallel))
            took = time.perf_counter() - started
            sh(*VMCTL, "-q", "down", "-f", str(stack))
            return took

        clean()
        try:
            times = alternate(args.runs, {"3 x vmctl create --wait ssh": sequential, "vmctl up (3 VMs)": up})
        finally:
            clean()
    summarize("stack up vs sequential creates", times, "3 x vmctl create --wait ssh", 0.6)


if __name__ == "__main__":
    main()
