"""How fast this machine runs guests, measured rather than guessed.

A probe guest (the embedded image's kernel and initramfs, no disk, no network)
runs one fixed busybox shell loop and powers off; the same loop runs natively
with the host's busybox. The ratio guest/native is the slowdown: about 1 under
KVM, several times that under TCG. Under KVM the probe also proves that KVM can
run a guest at all (``/dev/kvm`` being there does not: see docs/ci.md).

The measured slowdown is cached per machine (user cache dir); vmctl's waits scale
with it (vmctl.policy.timeouts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from vmctl.local.privatefile import read_text_or_empty, write_private

LOOP = "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"
START, DONE = "VMCTL-PROBE-START", "VMCTL-PROBE-DONE"
# The guest's init is the loop itself (kernel arguments after "--" go to init, one quoted string).
_APPEND = f'console=ttyS0 quiet panic=-1 rdinit=/bin/sh -- -c "echo {START}; {LOOP}; echo {DONE}; poweroff -f"'


@dataclass(frozen=True)
class ProbeResult:
    accel: str                 # "kvm" or "tcg"
    ran: bool                  # the guest ran the loop to its end
    reason: str                # why not, or ""
    start_seconds: float | None = None  # QEMU start -> the guest's init ran
    loop_seconds: float | None = None   # the loop, timed from the host by its console markers

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def native_loop_seconds() -> float | None:
    """The probe's loop run by the host's busybox (None: no busybox here)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        return None
    started = time.monotonic()
    subprocess.run([busybox, "sh", "-c", LOOP], check=True, timeout=120)
    return time.monotonic() - started


def probe_guest(accel: str, kernel: str, initrd: str, *, timeout: float) -> ProbeResult:
    """Boot the probe under ``accel`` (bounded by ``timeout`` seconds) and time its loop."""
    argv = ["qemu-system-x86_64", "-accel", accel, "-m", "128", "-nographic", "-nodefaults", "-serial", "stdio",
            "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", _APPEND]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return ProbeResult(accel, False, f"cannot run qemu-system-x86_64: {exc.strerror}")
    marks: dict[str, float] = {}

    def read() -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            for mark in (START, DONE):
                if mark.encode() in raw and mark not in marks:
                    marks[mark] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        proc.wait(timeout=10)
    reader.join(timeout=2)
    if DONE in marks and START in marks:
        return ProbeResult(accel, True, "", round(marks[START] - started, 3), round(marks[DONE] - marks[START], 3))
    lines = proc.stderr.read().decode("utf-8", "replace").strip().splitlines() if proc.stderr else []
    errors = [ln for ln in lines if "warning" not in ln.lower()]
    if START in marks:
        return ProbeResult(accel, False, f"the probe guest did not finish its loop within {timeout:g} s")
    if timed_out:
        return ProbeResult(accel, False, f"the probe guest printed nothing within {timeout:g} s (its kernel hangs)")
    shown = (errors or lines or [f"exit status {proc.returncode}"])[0][:200]
    return ProbeResult(accel, False, f"QEMU ended without running the guest: {shown}")


# --- the cached slowdown -----------------------------------------------------------------
def cache_path() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("vmctl") / "host-speed.json"


def machine_id() -> str:
    for path in ("/etc/machine-id", "/var/lib/dbus/machine-id"):
        text = read_text_or_empty(Path(path)).strip()
        if text:
            return text
    return os.uname().nodename


def save_slowdown(accel: str, slowdown: float, path: Path | None = None) -> None:
    target = path or cache_path()
    try:
        data = json.loads(read_text_or_empty(target) or "{}")
    except ValueError:
        data = {}
    if data.get("machine") != machine_id():
        data = {"machine": machine_id()}
    data[accel] = {"slowdown": round(slowdown, 2), "measured": time.time()}
    write_private(target, json.dumps(data, indent=1) + "\n")
    measured_slowdown.cache_clear()


@lru_cache(maxsize=4)
def measured_slowdown(accel: str) -> float | None:
    """This machine's measured slowdown under ``accel`` (None: never measured here)."""
    try:
        data = json.loads(read_text_or_empty(cache_path()) or "{}")
    except ValueError:
        return None
    if data.get("machine") != machine_id():
        return None  # measured on another machine (a copied home directory): not ours
    entry = data.get(accel)
    return float(entry["slowdown"]) if isinstance(entry, dict) and "slowdown" in entry else None
