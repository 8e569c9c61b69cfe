"""CI runs (issue: vmctl for CI jobs):

1. `vmctl run -- true` end to end vs the same by hand with vmctl:
   `create --wait ssh` + `exec -- true` + `delete` (three processes), alternated.
2. Cancel: `vmctl run -- sleep 600` is sent SIGINT once the command runs; timed
   from the signal until the process has exited (failure bundle written, guest
   destroyed, volumes and record removed: checked). Target <= 2 s.
3. A 20-test module with the pytest plugin's per-test reset (`vmctl_clean_vm`)
   vs the same 20 tests each with a VM of its own (`vmctl_vm_factory`): wall time
   of the whole pytest process.
4. The plugin's per-test reset in-process (`snapshot_revert(wait_ssh=True)` to the
   session checkpoint, then `exec true` answers) vs a fresh `create(wait_ssh=True)`
   + `exec true` (target <= 0.3x, aim <= 1 s).

    .venv/bin/python bench/run.py [--runs 5] [--tests 20] [--skip-module]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

PY = str(ROOT / ".venv/bin/python")
VMCTL = [PY, "-m", "vmctl"]
ENV = {**os.environ, "VMCTL_LABELS": "vmctl.bench=run"}


def vmctl(*args: str) -> None:
    subprocess.run([*VMCTL, *args], check=True, capture_output=True, env=ENV, cwd=ROOT)


def leftovers(name: str) -> list[str]:
    doms = subprocess.run(["virsh", "list", "--all", "--name"], capture_output=True, text=True).stdout.split()
    vols = subprocess.run(["virsh", "vol-list", "vmctl"], capture_output=True, text=True).stdout
    return [d for d in doms if d == name] + [line.split()[0] for line in vols.splitlines() if name in line]


def run_true() -> None:
    vmctl("run", "--", "true")


def by_hand() -> None:
    name = f"bench-run-{os.urandom(3).hex()}"
    vmctl("create", name, "--wait", "ssh")
    try:
        vmctl("exec", name, "--", "true")
    finally:
        vmctl("delete", name)


def cancel_once(workdir: Path) -> float:
    name = f"bench-cancel-{os.urandom(3).hex()}"
    proc = subprocess.Popen([*VMCTL, "run", "--name", name, "--json", "--artifacts", str(workdir), "--",
                             "sleep", "600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line or json.loads(line).get("event") == "command-started":
            break
    time.sleep(0.5)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    seconds = time.perf_counter() - sent
    assert proc.returncode == 130, proc.returncode
    assert not leftovers(name), leftovers(name)
    return seconds


MODULE = '''
import pytest

@pytest.mark.parametrize("i", range({tests}))
def test_one(i, {fixture}):
    vm = {get_vm}
    vm.exec("sh", "-c", "echo $1 > /root/state", "sh", str(i))
    assert vm.exec("cat", "/root/state").stdout.strip() == str(i)
'''


def module_run(tmp: Path, tests: int, reset: bool) -> float:
    path = tmp / f"test_bench_{'reset' if reset else 'fresh'}.py"
    fixture, get_vm = ("vmctl_clean_vm", "vmctl_clean_vm") if reset else ("vmctl_vm_factory", "vmctl_vm_factory()")
    path.write_text(MODULE.format(tests=tests, fixture=fixture, get_vm=get_vm))
    from importlib.metadata import entry_points

    plugin = [] if any(ep.name == "vmctl" for ep in entry_points(group="pytest11")) else ["-p", "vmctl.pytest_plugin"]
    started = time.perf_counter()
    subprocess.run([PY, "-m", "pytest", *plugin, "-q", "-p", "no:cacheprovider", str(path), f"--basetemp={tmp / 'base'}"],
                   check=True, capture_output=True, env=ENV, cwd=tmp)
    return time.perf_counter() - started


def reset_vs_create(runs: int) -> None:
    from vmctl.api import Vmctl

    api = Vmctl(labels={"vmctl.bench": "run"})
    name = f"bench-reset-{os.urandom(3).hex()}"
    api.create(name, wait_boot=True, wait_ssh=True)
    try:
        api.snapshot_create(name, "clean")

        def reset() -> float:
            api.exec(name, ["sh", "-c", "echo dirty > /root/state"])  # not timed
            started = time.perf_counter()
            api.snapshot_revert(name, "clean", wait_ssh=True)
            assert api.exec(name, ["true"]) == 0
            return time.perf_counter() - started

        def fresh() -> float:
            other = f"bench-fresh-{os.urandom(3).hex()}"
            started = time.perf_counter()
            api.create(other, wait_boot=True, wait_ssh=True)
            assert api.exec(other, ["true"]) == 0
            took = time.perf_counter() - started
            api.delete(other)
            return took

        summarize("plugin reset vs fresh create", alternate(runs, {"create -> exec true": fresh,
                                                                   "reset -> exec true": reset}),
                  "create -> exec true", 0.3)
    finally:
        api.delete(name)
        api.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tests", type=int, default=20)
    parser.add_argument("--skip-module", action="store_true")
    args = parser.parse_args()
    reset_vs_create(args.runs)
    summarize("run true vs create exec delete",
              alternate(args.runs, {"create+exec+delete": by_hand, "vmctl run -- true": run_true}),
              "create+exec+delete", 1.0)
    with tempfile.TemporaryDirectory(prefix="vmctl-bench-run-") as tmp:
        cancels = [cancel_once(Path(tmp)) for _ in range(args.runs)]
        print(f"\n## run cancel (SIGINT -> exit, cleaned up)\n  median {statistics.median(cancels):.2f} s, "
              f"max {max(cancels):.2f} s, runs {[round(c, 2) for c in cancels]} (target <= 2 s)")
        (Path(__file__).resolve().parent / "results").mkdir(exist_ok=True)
        (Path(__file__).resolve().parent / "results" / "run_cancel.json").write_text(
            json.dumps({"runs_s": cancels, "median_s": statistics.median(cancels), "target_s": 2.0}))
        if not args.skip_module:
            summarize(f"{args.tests}-test module reset vs fresh VMs",
                      {"fresh VM per test": [module_run(Path(tmp), args.tests, reset=False)],
                       "plugin reset per test": [module_run(Path(tmp), args.tests, reset=True)]},
                      "fresh VM per test", 0.3)


if __name__ == "__main__":
    main()
