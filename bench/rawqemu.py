"""The baseline for the guest benchmarks: plain `qemu-system-x86_64`, started the
way a user's own script would start the vmctl image, plus the `ssh` loop that
script would use to find out when the guest answers.

Same image, kernel, initrd, kernel command line, accelerator (TCG), memory,
vCPUs and devices as a vmctl VM: a qcow2 overlay on the image as virtio-blk,
virtio-rng-pci, a NoCloud seed of the same shape (vmctl's own builders) as an
IDE cdrom, the serial console, and a user-mode NIC with restrict=on whose only
host forward is 127.0.0.1:PORT -> guest port 22. Every QEMU started here is
stopped when its `RawQemu` block ends, whatever happens inside it.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vmctl.guest.cloudconfig import build_user_data
from vmctl.spec.image import Image
from vmctl.ssh.keys import generate_ed25519, public_line_of, strip_comment
from vmctl.guest.seed import build_seed_iso

QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 180.0   # vmctl's own bound for a TCG boot
SSH_TIMEOUT = 180.0
SSH_INTERVAL = 0.5     # the pause between attempts; vmctl's readiness loop uses the same
STOP_TIMEOUT = 10.0
OTHER_CPU_LIMIT = 0.15  # cores used by other processes during a run before it counts as disturbed


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class GuestFiles:
    overlay: Path
    seed: Path
    known_hosts: Path
    port: int


def prepare_guest(workdir: Path, image: Image, name: str, key_path: Path) -> GuestFiles:
    """What a script needs per guest: a qcow2 overlay on the image, a NoCloud seed
    carrying root's authorized key and a fresh Ed25519 host key, and a known_hosts
    file pinning that host key for the forwarded port."""
    overlay = workdir / f"{name}-vda.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", image.format, "-b", image.path, str(overlay)],
                   check=True, stdin=subprocess.DEVNULL, timeout=60)
    host_key = generate_ed25519()
    user_data = build_user_data(hostname=name, user="root", default_user=image.default_user or "root",
                                authorized_key=public_line_of(key_path), host_key=host_key)
    seed = build_seed_iso(workdir / f"{name}-seed.iso", instance_id=str(uuid.uuid4()), hostname=name,
                          user_data=user_data)
    port = free_loopback_port()
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {strip_comment(host_key.public_line)}\n")
    return GuestFiles(overlay, seed, known_hosts, port)


def qemu_argv(image: Image, files: GuestFiles, *, serial: str = "stdio", memory_mib: int = 512,
              cpus: int = 1) -> list[str]:
    """The command line; ``serial`` is a QEMU chardev spec ("stdio", "file:PATH", ...)."""
    return [
        QEMU, "-machine", "pc", "-accel", "tcg", "-nographic", "-nodefaults",
        "-m", str(memory_mib), "-smp", str(cpus),
        "-kernel", image.kernel, "-initrd", image.initrd, "-append", image.cmdline,
        "-drive", f"file={files.overlay},format=qcow2,if=none,id=vda",
        "-device", "virtio-blk-pci,drive=vda",
        "-drive", f"file={files.seed},format=raw,if=none,id=seed,media=cdrom,readonly=on",
        "-device", "ide-cd,drive=seed,bus=ide.1",
        "-device", "virtio-rng-pci",
        "-netdev", f"user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{files.port}-:22",
        "-device", "virtio-net-pci,netdev=n0",
        "-serial", serial,
    ]


class RawQemu:
    """A QEMU process, stopped (SIGTERM, then SIGKILL) when the block ends."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.console = b""

    def __enter__(self) -> "RawQemu":
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(STOP_TIMEOUT)
        finally:
            if proc.stdout is not None:
                proc.stdout.close()

    def why_dead(self) -> str:
        tail = self.log.read_text(errors="replace").strip().splitlines()[-3:] if self.log.exists() else []
        code = self.proc.returncode if self.proc is not None else None
        return f"QEMU exited (status {code}): " + " | ".join(tail)

    def wait_for_console(self, marker: bytes, timeout: float = BOOT_TIMEOUT) -> None:
        """Read the serial console (QEMU's stdout) until ``marker`` appears."""
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while marker not in self.console:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = self.console.decode(errors="replace").strip().splitlines()[-3:]
                raise TimeoutError(f"no {marker!r} on the console within {timeout:.0f} s; last: {tail}")
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(self.why_dead())
                self.console += chunk


def ssh_argv(port: int, key: Path, known_hosts: Path, *command: str) -> list[str]:
    """OpenSSH with the pinned host key only: an unknown or changed key fails."""
    return ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=2",
            "-i", str(key), "-p", str(port), "root@127.0.0.1", *command]


def wait_for_ssh(argv: list[str], *, alive: Callable[[], bool], timeout: float = SSH_TIMEOUT,
                 interval: float = SSH_INTERVAL) -> list[float]:
    """Run ``argv`` (an ssh command) until it succeeds, pausing ``interval`` after each
    failure; returns how long each attempt took (the last one succeeded)."""
    deadline = time.monotonic() + timeout
    attempts: list[float] = []
    last = ""
    while True:
        began = time.monotonic()
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=30)
        attempts.append(time.monotonic() - began)
        if done.returncode == 0:
            return attempts
        last = done.stderr.decode(errors="replace").strip()
        if not alive():
            raise RuntimeError(f"the guest died while waiting for SSH (last ssh error: {last})")
        if time.monotonic() + interval >= deadline:
            raise TimeoutError(f"ssh did not succeed within {timeout:.0f} s ({len(attempts)} attempts); "
                               f"last: {last}")
        time.sleep(interval)


def other_qemus() -> list[str]:
    """QEMU processes (shortened command lines) that are not this benchmark's own:
    they share the 2 cores. Own = children of this process, or vmctl VMs named bench-*."""
    found = []
    me = str(os.getpid()).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = (entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
        if not argv or not os.path.basename(argv[0]).startswith(b"qemu-system"):
            continue
        if ppid == me or any(a.startswith(b"guest=bench-") for a in argv):
            continue
        found.append(f"{entry.name}: " + b" ".join(argv[:3]).decode(errors="replace")[:100])
    return found


def cpu_busy(sample: float = 0.5) -> float:
    """Fraction of all CPUs busy over ``sample`` seconds (from /proc/stat)."""
    total0, idle0 = _cpu_totals()
    time.sleep(sample)
    total1, idle1 = _cpu_totals()
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def wait_until_quiet(max_wait: float = 600.0, busy_below: float = 0.3) -> bool:
    """Wait (bounded) until no other QEMU runs and the CPUs are mostly idle; False if
    the machine did not become quiet within ``max_wait`` seconds."""
    deadline = time.monotonic() + max_wait
    told = False
    while True:
        others, busy = other_qemus(), cpu_busy()
        if not others and busy < busy_below:
            return True
        if time.monotonic() >= deadline:
            sys.stderr.write(f"warning: machine still busy after {max_wait:.0f} s; measuring anyway\n")
            return False
        if not told:
            sys.stderr.write(f"waiting for a quiet machine (cpu {busy:.0%}, other QEMUs: {len(others)})\n")
            told = True
        time.sleep(2.0)


def _ticks(pid: int | str, children: bool) -> tuple[int, bytes, list[bytes]] | None:
    """(CPU clock ticks, parent pid, argv) of a process; with ``children``, including
    its reaped children."""
    try:
        fields = (Path("/proc") / str(pid) / "stat").read_bytes().rsplit(b")", 1)[1].split()
        argv = (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks, fields[1], argv


def _daemon_pids() -> list[str]:
    pids = []
    for daemon in ("libvirtd", "virtlogd"):
        try:
            pids.append(Path(f"/run/{daemon}.pid").read_text().strip())
        except OSError:
            pass
    return pids


class Watch:
    """While a measurement runs: other QEMU processes seen, and CPU used by anything
    that is not this benchmark (this process and its children, libvirtd, virtlogd and
    the bench-* VMs' QEMUs count as the benchmark's own)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self.seen: set[str] = set()
        self.other_cpu = 0.0  # cores used by others on average
        self._own_first: dict[str, int] = {}
        self._own_last: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def disturbed(self) -> bool:
        return bool(self.seen) or self.other_cpu > OTHER_CPU_LIMIT

    def __enter__(self) -> "Watch":
        self._sample()
        self._stat0 = _cpu_totals()
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._sample()
        total, idle = _cpu_totals()
        busy = (total - self._stat0[0]) - (idle - self._stat0[1])
        own = sum(self._own_last[pid] - self._own_first[pid] for pid in self._own_last)
        wall_ticks = (time.monotonic() - self._t0) * os.sysconf("SC_CLK_TCK")
        self.other_cpu = max(0.0, (busy - own) / max(1.0, wall_ticks))

    def _own(self, pid: str, ticks: int, new: bool) -> None:
        self._own_first.setdefault(pid, 0 if new else ticks)
        self._own_last[pid] = ticks

    def _sample(self) -> None:
        new = bool(self._own_first)  # a bench QEMU first seen after the start used all its CPU inside
        for pid in (str(os.getpid()), *_daemon_pids()):
            found = _ticks(pid, children=True)
            if found:
                self._own(pid, found[0], new=False)
        self.seen.update(other_qemus())
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                found = _ticks(entry.name, children=False)
                if found and any(a.startswith(b"guest=bench-") for a in found[2]):
                    self._own(entry.name, found[0], new)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()


def _cpu_totals() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def guarded(fn: Callable[[], float], disturbed: list[bool], *, discard: Callable[[], None] | None = None,
            retries: int = 2, max_wait: float = 600.0) -> Callable[[], float]:
    """``fn`` (which returns its own duration) measured on a quiet machine: waits first
    (not timed); a run during which another QEMU ran or others used more than
    OTHER_CPU_LIMIT cores is thrown away (``discard`` drops its side records) and
    repeated, at most ``retries`` times. Appends to ``disturbed`` whether the kept run
    was disturbed all the same."""
    def run() -> float:
        for attempt in range(retries + 1):
            quiet = wait_until_quiet(max_wait)
            with Watch() as watch:
                seconds = fn()
            bad = not quiet or watch.disturbed
            if not bad or attempt == retries:
                disturbed.append(bad)
                return seconds
            sys.stderr.write(f"disturbed run ({len(watch.seen)} other QEMUs, others used "
                             f"{watch.other_cpu:.2f} cores): repeating it\n")
            if discard is not None:
                discard()
        raise AssertionError("unreachable")
    return run
