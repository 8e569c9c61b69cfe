"""By hand: ``python -m vmctl.testing.lab run`` (a lab until Enter/Ctrl-C) and
``python -m vmctl.testing.lab cleanup`` (stop labs whose owning process died)."""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import tempfile
from pathlib import Path

from vmctl.errors import VmctlError
from vmctl.testing.lab.host import STATE_FILE, LabHost
from vmctl.testing.lab.sshd import write_ssh_command


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(base: Path | None, sshd: bool = False) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    lab = LabHost(sshd=sshd, base_dir=base)
    try:
        lab.start()
        print(f"lab host {lab.netns} ready in {lab.timings['start']:.2f} s")
        print(f"export LIBVIRT_DEFAULT_URI={shlex.quote(lab.client_uri() if sshd else lab.uri)}")
        print(f"export VMCTL_POOL_PATH={shlex.quote(str(lab.pool_dir))}")
        if sshd:
            assert lab.layout is not None
            known = lab.layout.ssh_dir / "known_hosts"
            known.write_text(lab.ssh_known_hosts_line + "\n")
            command = write_ssh_command(lab.layout.ssh_dir / "ssh", known)
            print(f"# also over its sshd (host key checked strictly against {known}):")
            print(f"#   {shlex.quote(lab.ssh_uri(known, command))}")
        print(f"# lab address {lab.address}, root side {lab.root_address}, "
              f"private /24 for lab networks {lab.private_prefix}.0/24")
        print("# shell inside: ip netns exec " + lab.netns + " bash   (network only; not the mounts)")
        print("press Enter (or Ctrl-C) to stop it", flush=True)
        sys.stdin.readline()
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        print(f"stopped in {lab.timings.get('stop', 0):.2f} s")
    return 0


def cleanup(base: Path) -> int:
    """Stop every lab under ``base`` whose owner process is gone; returns 1 on problems."""
    status = 0
    for root in sorted(base.glob("vmctl-lab-*")):
        if not (root / STATE_FILE).is_file():
            continue
        lab = LabHost.adopt(root)
        if lab.owner_alive():
            print(f"{root}: in use ({lab.netns}), left alone")
            continue
        try:
            lab.stop()
            print(f"{root}: stopped and removed {lab.netns}")
        except VmctlError as exc:
            print(f"{root}: {exc.message}", file=sys.stderr)
            status = 1
    netns_dir = Path("/run/netns")
    known = {LabHost.adopt(r).netns for r in base.glob("vmctl-lab-*") if (r / STATE_FILE).is_file()}
    for ns in sorted(netns_dir.glob("vmctl-lab-*")) if netns_dir.is_dir() else []:
        if ns.name not in known:
            print(f"namespace {ns.name} has no lab directory under {base}: `ip netns pids {ns.name}`, "
                  f"then `ip netns del {ns.name}`")
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vmctl.testing.lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="start a lab host and keep it until Enter or Ctrl-C")
    run_p.add_argument("--sshd", action="store_true", help="also run an sshd on the lab address (qemu+ssh://)")
    run_p.add_argument("--base", type=Path, help="directory for the lab's files (default: TMPDIR)")
    clean_p = sub.add_parser("cleanup", help="stop labs left behind by killed processes")
    clean_p.add_argument("--base", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.base, args.sshd)
        return cleanup(args.base)
    except VmctlError as exc:
        print(f"error: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else ""), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
