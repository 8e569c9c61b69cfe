"""`vmctl list --json` vs a minimal Python script listing the same domains
through libvirt, as whole processes (what a script calling either pays).

    .venv/bin/python bench/list_json.py [--runs 20] [--vms 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = str(ROOT / ".venv/bin/python")
MINIMAL = """
import json, libvirt
conn = libvirt.open("qemu:///system")
out = []
for d in conn.listAllDomains(0):
    state = d.state()[0]
    out.append({"name": d.name(), "uuid": d.UUIDString(), "state": state, "xml": d.XMLDesc(0)})
print(json.dumps(out))
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

    names = [f"bench-list-{i}" for i in range(args.vms)]
    with Vmctl() as v:
        for name in names:
            v.create(name, start=False)
        try:
            run([PY, "-m", "vmctl", "list", "--json"])  # warm the page cache
            times = alternate(args.runs, {
                "minimal libvirt script": lambda: run([PY, "-c", MINIMAL]),
                "vmctl list --json": lambda: run([str(ROOT / ".venv/bin/vmctl"), "list", "--json"]),
            })
        finally:
            for name in names:
                v.delete(name)
    summarize("list json", times, "minimal libvirt script", 1.5)


if __name__ == "__main__":
    main()
