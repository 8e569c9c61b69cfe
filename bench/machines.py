"""Disk-boot guest (tinydisk) on each built-in disk template, side by side:
create -> boot marker on the console, with `linux` (pc, BIOS) as the baseline.

    .venv/bin/python bench/machines.py [--runs 5]

Decides whether q35 may be the default machine for disk-boot images: it must
boot as fast as pc (ratio <= 1.05). Deleting a VM is not timed; VMs are named
bench-mach-*, leftovers of an interrupted run are removed at start.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from common import alternate, summarize  # noqa: E402

from vmctl.api import Vmctl  # noqa: E402

PREFIX = "bench-mach-"
LABELS = {"vmctl.bench": "machines"}  # a leftover is ours only if it carries this (never a VM named alike)
TEMPLATES = ("linux", "linux-q35", "linux-q35-uefi")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Vmctl(labels=LABELS) as v:
        for vm in v.list(labels=LABELS):
            if vm.name.startswith(PREFIX):
                v.delete(vm.name)
        v.build_tinydisk()

        def contender(template: str):
            def run() -> float:
                name = f"{PREFIX}{secrets.token_hex(3)}"
                try:
                    vm = v.create(name, image="tinydisk", template=template, wait_boot=True)
                    return float(vm.boot_seconds or 0.0)
                finally:
                    v.delete(name)
            return run

        times = alternate(args.runs, {t: contender(t) for t in TEMPLATES})
    summarize("tinydisk boot by machine", times, baseline="linux", target=1.05)


if __name__ == "__main__":
    main()
