"""`vmctl list --all-hosts` over a three-host lab vs one host's `vmctl -c URI list`
(issue 16, item 8: target <= 1.3x), alternated in one run, medians.

A lab of three hosts (`vmctl.testing.lab.testlab.migration_lab(3)`, taken down at the
end), each holding one shut-off tiny VM so every listing has a VM to read; the three
hosts are put in an inventory file in a temporary directory (VMCTL_HOSTS). Measured
twice, each side the same kind of call:

- CLI: whole processes, `python -m vmctl list --all-hosts` vs `python -m vmctl -c URI
  list` for the first lab host (both pay Python's start-up and vmctl's imports);
- in-process API: `list_all_hosts()` vs `with Vmctl(URI) as v: v.list()` (both open
  their connections afresh each call, as the CLI does);
- the floor: libvirt's own connect and domain listing, one host vs three in threads
  (the qemu+ssh handshakes of three hosts on this machine's cores).

    python bench/fleet.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(ROOT))
from common import alternate, summarize  # noqa: E402

from vmctl.api import Vmctl  # noqa: E402
from vmctl.testing.lab.testlab import migration_lab  # noqa: E402

VMCTL = [sys.executable, "-m", "vmctl"]
TARGET = 1.3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, migration_lab(3) as lab:
        inventory = Path(tmp) / "hosts.yaml"
        env = {**os.environ, "VMCTL_HOSTS": str(inventory), "PYTHONPATH": str(ROOT)}
        uris = [lab.host(name).uri for name in sorted(lab.hosts)]
        for name, uri in zip(sorted(lab.hosts), uris):
            subprocess.run([*VMCTL, "-q", "host", "add", name, uri], check=True, env=env, cwd=ROOT, timeout=60)
            with Vmctl(uri) as v:
                v.create(f"bench-fleet-{name}", start=False)  # gone with the lab
        os.environ["VMCTL_HOSTS"] = str(inventory)

        def cli(*argv: str) -> None:
            done = subprocess.run([*VMCTL, *argv], env=env, cwd=ROOT, timeout=120, capture_output=True, text=True)
            assert done.returncode == 0 and "bench-fleet-" in done.stdout, done.stderr

        def api_one() -> None:
            with Vmctl(uris[0]) as v:
                assert len(v.list()) == 1

        def api_all() -> None:
            from vmctl.api.hosts import list_all_hosts

            listings = list_all_hosts()
            assert all(listing.error is None and len(listing.vms) == 1 for listing in listings)

        def raw(targets: list[str]) -> None:  # the floor: libvirt's own connects, in threads
            import threading

            from vmctl.virt.host import Host

            def one(uri: str) -> None:
                with Host(uri) as host:
                    host.conn.listAllDomains()
            workers = [threading.Thread(target=one, args=(uri,)) for uri in targets]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()

        cli("list", "--all-hosts")  # warm the page cache and the hosts' daemons
        api_all()
        cli_times = alternate(args.runs, {
            "vmctl -c URI list (1 host)": lambda: cli("-c", uris[0], "list"),
            "vmctl list --all-hosts (3)": lambda: cli("list", "--all-hosts")})
        api_times = alternate(args.runs, {"Vmctl(URI).list() (1 host)": api_one,
                                          "list_all_hosts() (3 hosts)": api_all})
        raw_times = alternate(args.runs, {"libvirt open+list (1 host)": lambda: raw(uris[:1]),
                                          "libvirt open+list (3, threads)": lambda: raw(uris)})
        # the same hosts through their unix sockets (no ssh): vmctl's own fan-out, without
        # the transport's per-connect cost on this machine's two cores
        local = Path(tmp) / "local.yaml"
        local_env = {**env, "VMCTL_HOSTS": str(local)}
        for name in sorted(lab.hosts):
            subprocess.run([*VMCTL, "-q", "host", "add", name, lab.local_uri(name)], check=True, env=local_env,
                           cwd=ROOT, timeout=60)

        def cli_local(*argv: str) -> None:
            done = subprocess.run([*VMCTL, *argv], env=local_env, cwd=ROOT, timeout=120, capture_output=True,
                                  text=True)
            assert done.returncode == 0 and "bench-fleet-" in done.stdout, done.stderr
        first = lab.local_uri(sorted(lab.hosts)[0])
        local_times = alternate(args.runs, {"vmctl -c SOCKET list (1 host)": lambda: cli_local("-c", first, "list"),
                                            "vmctl list --all-hosts (3 sockets)": lambda: cli_local(
                                                "list", "--all-hosts")})
    summarize("fleet list CLI", cli_times, "vmctl -c URI list (1 host)", TARGET)
    summarize("fleet list CLI, unix sockets", local_times, "vmctl -c SOCKET list (1 host)", TARGET)
    summarize("fleet list API", api_times, "Vmctl(URI).list() (1 host)", TARGET)
    summarize("fleet list floor", raw_times, "libvirt open+list (1 host)", TARGET)


if __name__ == "__main__":
    main()
