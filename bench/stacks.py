"""`vmctl up` of a three-VM stack vs the same three VMs made one after the other with
`vmctl create --wait ssh` (issue 16, item 8: target <= 0.6x wall time on two cores, the
waits overlapping), and vs a hand-written `virt-install --import` + shell loop
(bench/virt-install-loop.sh: qcow2 overlays on the same base image, NoCloud seeds with a
pinned host key, all three started, then each waited for until an authenticated `ssh
true` works, as vmctl waits). Tiny guest under TCG, alternated in one run; each side's
VMs (and the loop's files) are removed after its round (not timed).

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

VMCTL = [str(ROOT / ".venv/bin/vmctl")] if (ROOT / ".venv/bin/vmctl").exists() else [sys.executable, "-m", "vmctl"]
NAMES = ["bench-st-a", "bench-st-b", "bench-st-c"]
VI_NAMES = ["bench-vi-a", "bench-vi-b", "bench-vi-c"]  # the virt-install loop's
STACK = "version: 1\nname: bench-st\nvms:\n" + "".join(f"  {n}: {{}}\n" for n in NAMES)


def sh(*argv: str) -> None:
    subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900, cwd=ROOT)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def virt_install_loop(image) -> float:  # noqa: ANN001 - vmctl.spec.image.Image
    """The shell loop's wall time; its VMs and files are removed afterwards (not timed)."""
    import shutil

    work = Path(tempfile.mkdtemp(prefix="bench-vi-", dir="/var/tmp"))
    work.chmod(0o755)  # QEMU (another user) opens the overlays and seeds in it
    try:
        started = time.perf_counter()
        sh("bash", str(ROOT / "bench/virt-install-loop.sh"), str(work), image.path, image.kernel, image.initrd,
           image.cmdline, *[f"{name}:{free_port()}" for name in VI_NAMES])
        return time.perf_counter() - started
    finally:
        clean_virt_install()
        shutil.rmtree(work, ignore_errors=True)


def clean_virt_install() -> None:
    """Exactly the loop's domains, by their names (bench-vi-*: nothing else uses them)."""
    for name in VI_NAMES:
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", "destroy", name], capture_output=True, timeout=60)
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", "undefine", name], capture_output=True, timeout=60)


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

        image = next(i for i in v.list_images() if i.name == "tiny")
        clean()
        clean_virt_install()
        try:
            times = alternate(args.runs, {"3 x vmctl create --wait ssh": sequential, "vmctl up (3 VMs)": up,
                                          "virt-install + shell loop": lambda: virt_install_loop(image)})
        finally:
            clean()
            clean_virt_install()
    summarize("stack up vs sequential creates", times, "3 x vmctl create --wait ssh", 0.6)


if __name__ == "__main__":
    main()
