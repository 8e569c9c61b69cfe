"""CLI start-up, as whole processes (what a script calling vmctl pays), side by side
with minimal Python scripts doing the same libvirt calls:

    vmctl list --json       (3 defined VMs)   vs  listAllDomains + state/UUID/XML + json.dumps
    vmctl info NAME --json                    vs  lookupByName + state/UUID/XML + json.dumps
    vmctl --help                              (absolute: target < 100 ms)

    .venv/bin/python bench/cli.py [--runs 20] [--vms 3]

vmctl's bytecode is compiled first (as a wheel install does; .ci/setup does it too):
this machine sets PYTHONDONTWRITEBYTECODE, and the baseline's libvirt module is compiled.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv/bin/python")
VMCTL = str(ROOT / ".venv/bin/vmctl")
MINIMAL_LIST = """
import json, libvirt
conn = libvirt.open("qemu:///system")
out = []
for d in conn.listAllDomains(0):
    state = d.state()[0]
    out.append({"name": d.name(), "uuid": d.UUIDString(), "state": state, "xml": d.XMLDesc(0)})
print(json.dumps(out))
"""
MINIMAL_INFO = """
import json, sys, libvirt
conn = libvirt.open("qemu:///system")
d = conn.lookupByName(sys.argv[1])
print(json.dumps({"name": d.name(), "uuid": d.UUIDString(), "state": d.state()[0], "xml": d.XMLDesc(0)}))
"""


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--vms", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from vmctl.api import Vmctl

    subprocess.run([PY, "-m", "compileall", "-q", str(ROOT / "vmctl")], check=True)
    names = [f"bench-list-{i}" for i in range(args.vms)]
    with Vmctl() as v:
        for name in names:
            if name in {vm.name for vm in v.list()}:
                v.delete(name)  # left over from an interrupted run
            v.create(name, start=False)
        try:
            run([VMCTL, "list", "--json"])  # warm the page cache
            lists = alternate(args.runs, {
                "minimal libvirt script": lambda: run([PY, "-c", MINIMAL_LIST]),
                "vmctl list --json": lambda: run([VMCTL, "list", "--json"]),
            })
            infos = alternate(args.runs, {
                "minimal libvirt lookup": lambda: run([PY, "-c", MINIMAL_INFO, names[0]]),
                "vmctl info NAME --json": lambda: run([VMCTL, "info", names[0], "--json"]),
            })
            helps = alternate(args.runs, {"vmctl --help": lambda: run([VMCTL, "--help"])})
        finally:
            for name in names:
                v.delete(name)
    summarize("list json", lists, "minimal libvirt script", 1.5)
    summarize("info json", infos, "minimal libvirt lookup", 1.5)
    median = statistics.median(helps["vmctl --help"])
    print(f"\n## help\n  vmctl --help                 median {median * 1000:8.1f} ms  (n={len(helps['vmctl --help'])})"
          f"  (target < 100 ms)")


if __name__ == "__main__":
    main()
