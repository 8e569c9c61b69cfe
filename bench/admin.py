"""The everyday admin verbs side by side (issue 15, item 9), tiny guest under TCG, each
pair alternated in one run:

1. clone: `vmctl clone SRC NEW` of a *running* VM (linked; a consistent copy taken
   through libvirt's backup job while the guest runs on, a new identity and seed) vs
   `virt-clone --auto-clone` of the same VM *shut off* (virt-clone refuses a running
   one; it copies the disk's top layer through libvirt and shares the seed CD-ROM).
   Only the clone is timed (not the stop or start around it); each clone is removed
   after (its own disks only).
2. cp: `vmctl cp` of a 100 MiB file into the guest vs `scp -F CFG` with the config
   `vmctl ssh-config` prints (OpenSSH, the same pinned key and forward; scp speaks
   SFTP like vmctl).
3. set --memory live: `vmctl set NAME --memory M` (the definition, then the running
   guest through the balloon) vs `virsh setmem NAME M --live` (the running guest only);
   two sizes alternate so each call changes something.

    .venv/bin/python bench/admin.py [--runs 5] [--only clone|cp|set]

Needs virt-clone (Debian: apt-get install virtinst). No target ratios are given by the
issue; the summary's target column is 1.0 for reference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import alternate, summarize  # noqa: E402

VMCTL = [str(ROOT / ".venv/bin/vmctl")]
NAME = "bench-admin"


def sh(*argv: str) -> str:
    return subprocess.run(list(argv), check=True, capture_output=True, text=True, timeout=600).stdout


def disks_of(name: str) -> set[str]:
    """The file paths of a domain's disks (virsh domblklist)."""
    lines = sh("virsh", "-q", "domblklist", name, "--details").splitlines()
    return {line.split()[-1] for line in lines if line.split() and line.split()[-1].startswith("/")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=["clone", "cp", "set"])
    args = parser.parse_args()
    from vmctl.api import Vmctl

    with Vmctl() as v:
        if NAME in {vm.name for vm in v.list()}:
            v.delete(NAME)
        v.create(NAME, wait_boot=True, wait_ssh=True, memory="512M")
        try:
            if args.only in (None, "clone"):
                clone_part(v, args.runs)
            if args.only in (None, "cp"):
                cp_part(v, args.runs)
            if args.only in (None, "set"):
                set_part(v, args.runs)
        finally:
            for vm in (NAME, f"{NAME}-vc", f"{NAME}-c"):
                if vm in {x.name for x in v.list()}:
                    v.delete(vm)


def clone_part(v, runs: int) -> None:
    if shutil.which("virt-clone") is None:
        print("virt-clone is missing (apt-get install virtinst): clone part skipped")
        return
    source_disks = disks_of(NAME)

    def vmctl_clone_running() -> None:
        sh(*VMCTL, "clone", NAME, f"{NAME}-c")

    def virt_clone_shut_off() -> None:
        sh("virt-clone", "--original", NAME, "--name", f"{NAME}-vc", "--auto-clone", "--quiet")

    def running() -> None:
        if v.info(NAME).state != "running":
            v.start(NAME, wait_boot=True)

    def shut_off() -> None:
        if v.info(NAME).state == "running":
            v.stop(NAME, force=True)

    def timed_then_removed(prepare, clone, name: str, by_vmctl: bool):
        """Only ``clone`` is timed: the source's stop or start before it, and the removal
        of the clone after it, are not."""
        def run() -> float:
            import time
            prepare()
            started = time.perf_counter()
            clone()
            took = time.perf_counter() - started
            if by_vmctl:
                v.delete(name)
            else:  # the clone's own disks only: the seed CD-ROM is shared with the source
                own = disks_of(name) - source_disks
                sh("virsh", "-q", "undefine", name)
                for path in own:
                    os.unlink(path)
                sh("virsh", "-q", "pool-refresh", "vmctl")
            return took
        return run

    times = alternate(runs, {
        "virt-clone (shut off)": timed_then_removed(shut_off, virt_clone_shut_off, f"{NAME}-vc", False),
        "vmctl clone (running)": timed_then_removed(running, vmctl_clone_running, f"{NAME}-c", True),
    })
    summarize("clone running vs virt-clone shut off", times, "virt-clone (shut off)", 1.0)
    if v.info(NAME).state != "running":
        v.start(NAME, wait_boot=True)
        v.wait(NAME, until="ssh")


def cp_part(v, runs: int) -> None:
    if v.info(NAME).state != "running":
        v.start(NAME, wait_boot=True)
    v.wait(NAME, until="ssh")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        big = Path(tmp) / "big.bin"
        big.write_bytes(os.urandom(100 << 20))
        cfg = Path(tmp) / "ssh_config"
        cfg.write_text(sh(*VMCTL, "ssh-config", NAME))
        target = "/dev/shm/big.bin"  # the guest's RAM: its small disk would measure the disk, not the copy

        def clear() -> None:
            v.exec(NAME, ["rm", "-f", target])

        times = alternate(runs, {
            "scp -F (ssh-config)": lambda: (clear(), sh("scp", "-q", "-F", str(cfg), str(big), f"{NAME}:{target}"),
                                            None)[-1],
            "vmctl cp": lambda: (clear(), sh(*VMCTL, "-q", "cp", str(big), f"{NAME}:{target}"), None)[-1],
        })
        clear()
    summary = summarize("cp 100 MiB vs scp", times, "scp -F (ssh-config)", 1.0)
    for who, median in summary["median_s"].items():
        print(f"  {who}: {100 / median:.1f} MiB/s (includes rm of the previous copy over SSH)")


def set_part(v, runs: int) -> None:
    sizes = iter([384, 448] * (2 * runs + 2))

    def vmctl_set() -> None:
        sh(*VMCTL, "-q", "set", NAME, "--memory", f"{next(sizes)}M")

    def virsh_setmem() -> None:
        sh("virsh", "-q", "setmem", NAME, f"{next(sizes)}M", "--live")

    print(sh(*VMCTL, "set", NAME, "--memory", "448M").strip())  # what vmctl says it did (live or not)
    times = alternate(runs, {"virsh setmem --live": virsh_setmem, "vmctl set --memory": vmctl_set,
                             "vmctl --version (start-up floor)": lambda: (sh(*VMCTL, "--version"), None)[-1]})
    summarize("set --memory live vs virsh setmem", times, "virsh setmem --live", 1.0)


if __name__ == "__main__":
    main()
