"""Starting and stopping the lab host's virtlogd and libvirtd.

Both run inside ``ip netns exec NS`` + ``unshare --mount --uts --propagation
private``: the bind mounts over the libvirt paths and the hostname exist only
in that private mount/UTS namespace, which disappears with its last process.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from vmctl.errors import HostError, OperationFailed, VmctlError
from vmctl.testing.lab.commands import run
from vmctl.testing.lab.layout import FILE_MOUNTS, MOUNTS, Layout

# $1 lab root, $2 hostname, $3 where to bind-mount the host's local storage ("" for
# nowhere), $4 "1" to run sshd. Paths come as arguments, never as code. libvirtd
# runs without --listen: no TCP or TLS listener, whatever its config says. sshd gets
# one more, nested mount namespace whose /run is a small tmpfs with /run/sshd (its privilege separation directory, which the root host
# lacks) and the lab's run/ at /run/libvirt (see vmctl.testing.lab.sshd).
_START = r"""
set -eu
lab=$1; name=$2; localdir=$3; sshd=$4
for pair in etc:/etc/libvirt lib:/var/lib/libvirt cache:/var/cache/libvirt run:/run/libvirt \
            log:/var/log/libvirt hosts:/etc/hosts resolv.conf:/etc/resolv.conf; do
    mount --bind "$lab/${pair%%:*}" "${pair#*:}"
done
if [ -n "$localdir" ]; then mount --bind "$lab/local" "$localdir"; fi
hostname "$name"
exec </dev/null >>"$lab/daemons.out" 2>&1
taskset -c 0 virtlogd -d -p "$lab/virtlogd.pid"
if command -v tini >/dev/null 2>&1; then
    # under a child subreaper, so stopped QEMUs are reaped at once (see .ci/setup)
    rm -f "$lab/libvirtd.pid"
    setsid tini -s -- taskset -c 0 libvirtd -p "$lab/libvirtd.pid" &
    i=0; while [ ! -s "$lab/libvirtd.pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
else
    taskset -c 0 libvirtd -d -p "$lab/libvirtd.pid"
fi
if [ "$sshd" = 1 ]; then
    unshare --mount --propagation private -- sh -c '
        set -eu
        mount -t tmpfs -o mode=0755,size=4m vmctl-lab-run /run
        mkdir -m 0755 /run/sshd /run/libvirt
        mount --bind "$1/run" /run/libvirt
        exec /usr/sbin/sshd -f "$1/ssh/sshd_config" -E "$1/ssh/sshd.log"' vmctl-lab-sshd "$lab"
fi
"""
assert all(f"{k}:{v}" in _START for k, v in {**MOUNTS, **FILE_MOUNTS}.items())


def start(layout: Layout, netns: str, hostname: str, *, local_mount: Path | None = None, sshd: bool = False) -> None:
    """Mounts, hostname, virtlogd, libvirtd (both pinned to CPU 0, see machine-notes),
    and with ``sshd`` the lab's sshd (prepared by :func:`vmctl.testing.lab.sshd.prepare`).
    With ``local_mount`` the host's ``local/`` is mounted there (in its namespace only)."""
    argv = ["ip", "netns", "exec", netns, "unshare", "--mount", "--uts", "--propagation", "private", "--",
            "sh", "-c", _START, "vmctl-lab", str(layout.root), hostname, str(local_mount or ""),
            "1" if sshd else "0"]
    proc = run(argv, timeout=60, check=False)
    if proc.returncode != 0:  # the script sends the daemons' output to daemons.out, not to us
        raise OperationFailed(f"the lab's daemons did not start (exit {proc.returncode}): "
                        f"{(proc.stderr.strip() + ' / ' + log_tail(layout)).strip(' /')}",
                        hint=f"see {layout.daemon_output}")


def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int, comm: str | None = None) -> bool:
    """The process exists, is not a zombie and (if given) is named ``comm``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, _, rest = stat.partition("(")[2].rpartition(")")
    if rest.split()[0] in ("Z", "X"):
        return False
    return comm is None or name == comm


def log_tail(layout: Layout, lines: int = 5) -> str:
    out = []
    for path in (layout.daemon_output, layout.daemon_log, layout.sshd_log):
        try:
            out += path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            pass
    return " / ".join(out)


def wait_ready(layout: Layout, uri: str, timeout: float) -> float:
    """Poll until libvirtd answers on ``uri``; returns the seconds it took. Fails at
    once when the daemon died, and after ``timeout`` seconds in any case."""
    from vmctl.virt.host import Host

    started = time.monotonic()
    deadline = started + timeout
    last = ""
    while True:
        pid = read_pid(layout.libvirtd_pid)
        if pid is not None and not alive(pid):
            raise HostError(f"the lab's libvirtd (pid {pid}) exited during start-up: {log_tail(layout)}",
                            hint=f"see {layout.daemon_log}")
        if layout.socket.exists():
            try:
                with Host(uri) as host:
                    host.facts()
                return time.monotonic() - started
            except VmctlError as exc:
                last = exc.message
        if time.monotonic() >= deadline:
            raise HostError(f"the lab's libvirtd did not answer within {timeout:g} s ({last or 'no socket'}): "
                            f"{log_tail(layout)}", hint=f"see {layout.daemon_log}")
        time.sleep(0.1)


def kill(pidfile: Path, comm: str, timeout: float = 15.0) -> str | None:
    """SIGTERM the daemon named in ``pidfile`` (only if it is ``comm``), SIGKILL after
    ``timeout``; returns a problem description or None."""
    pid = read_pid(pidfile)
    if pid is None or not alive(pid, comm):
        return None
    return kill_pids([pid], timeout)


def kill_pids(pids: list[int], timeout: float = 10.0) -> str | None:
    """SIGTERM, wait (bounded), SIGKILL, wait again; returns a problem or None."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        if not any(alive(p) for p in pids):
            return None
    return f"processes still alive after SIGKILL: {[p for p in pids if alive(p)]}"
