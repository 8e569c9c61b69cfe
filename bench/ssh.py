"""Many short commands in one guest: one vmctl SSH session vs one OpenSSH process
per command, against the same running guest, alternating every round.

    .venv/bin/python bench/ssh.py [--runs 3] [--commands 50] [--max-wait 600]

vmctl:   `with Vmctl() as v, v.session(name) as s: for _ in range(50): s.run(["true"])`
         (timed from opening libvirt, so the session's connect is included)
OpenSSH: 50 x `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes
         -o UserKnownHostsFile=<pinned key> -o ConnectTimeout=2 -i KEY -p PORT root@127.0.0.1 true`
         (same user key, the host key vmctl pinned at create)

Also reports the median of single commands (s.run inside the open session vs one
ssh process). The guest is one vmctl VM (bench-ssh-*), created and deleted untimed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from common import RESULTS, alternate, summarize  # noqa: E402
from rawqemu import guarded, other_qemus, ssh_argv  # noqa: E402

from vmctl.api import Vmctl  # noqa: E402
from vmctl.errors import NotFound  # noqa: E402
from vmctl.ssh.keys import ensure_user_key  # noqa: E402

PREFIX = "bench-ssh-"
TARGET = 0.3
VMCTL = "vmctl session"
OPENSSH = "OpenSSH process per command"
COMMAND_TIMEOUT = 30.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--max-wait", type=float, default=600.0,
                        help="before each run, wait up to this long for a quiet machine (not timed)")
    args = parser.parse_args()
    n = args.commands

    busy = other_qemus()
    if busy:
        print("warning: other QEMU processes share the CPUs:\n  " + "\n  ".join(busy), file=sys.stderr)
    name = PREFIX + secrets.token_hex(3)
    key = ensure_user_key()
    per_command: dict[str, list[float]] = {OPENSSH: [], VMCTL: []}
    connects: list[float] = []

    with Vmctl() as v, tempfile.TemporaryDirectory(prefix="bench-ssh-") as tmp:
        for vm in v.list():
            if vm.name.startswith(PREFIX):
                v.delete(vm.name)
        try:
            vm = v.create(name, wait_boot=True, wait_ssh=True)
            known_hosts = Path(tmp) / "known_hosts"
            known_hosts.write_text(f"[127.0.0.1]:{vm.ssh_port} {vm.ssh_host_key}\n")
            argv = ssh_argv(vm.ssh_port, key, known_hosts, "true")

            def openssh() -> float:
                began_all = time.perf_counter()
                for _ in range(n):
                    start = time.perf_counter()
                    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   timeout=COMMAND_TIMEOUT)
                    per_command[OPENSSH].append(time.perf_counter() - start)
                return time.perf_counter() - began_all

            def session() -> float:
                start = time.perf_counter()
                with Vmctl() as mine, mine.session(name) as s:
                    connects.append(time.perf_counter() - start)
                    for _ in range(n):
                        began = time.perf_counter()
                        result = s.run(["true"], timeout=COMMAND_TIMEOUT)
                        per_command[VMCTL].append(time.perf_counter() - began)
                        if result.exit_status != 0:
                            raise RuntimeError(f"`true` exited {result.exit_status} in the guest")
                return time.perf_counter() - start

            # Warm-up, untimed: page cache for ssh and paramiko, sshd's first fork in the guest.
            subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           timeout=COMMAND_TIMEOUT)
            with Vmctl() as mine, mine.session(name) as s:
                s.run(["true"], timeout=COMMAND_TIMEOUT)
            per_command[OPENSSH].clear()

            def discard(name: str) -> Callable[[], None]:
                def drop() -> None:  # a repeated run's records go too
                    del per_command[name][-n:]
                    if name == VMCTL:
                        connects.pop()
                return drop

            disturbed: dict[str, list[bool]] = {OPENSSH: [], VMCTL: []}
            times = alternate(args.runs, {
                name: guarded(fn, disturbed[name], discard=discard(name), max_wait=args.max_wait)
                for name, fn in ((OPENSSH, openssh), (VMCTL, session))})
        finally:
            try:
                v.delete(name)
            except NotFound:
                pass

    summarize(f"ssh {n} commands", {f"{k}, {n} x true": t for k, t in times.items()},
              f"{OPENSSH}, {n} x true", TARGET)
    summarize("ssh per command", per_command, OPENSSH, TARGET)
    connect = statistics.median(connects)
    print(f"  vmctl session connect (libvirt lookup + SSH handshake): median {connect * 1000:.1f} ms "
          f"(n={len(connects)})")
    (RESULTS / "ssh_session_connect.json").write_text(json.dumps(
        {"runs": [round(c, 4) for c in connects], "median_s": round(connect, 4), "disturbed": disturbed,
         "other_qemus_at_start": busy}, indent=1))
    print("  kept runs disturbed all the same (another QEMU, or others' CPU, after 2 retries): "
          + ", ".join(f"{who} {sum(flags)}/{len(flags)}" for who, flags in disturbed.items()))


if __name__ == "__main__":
    main()
