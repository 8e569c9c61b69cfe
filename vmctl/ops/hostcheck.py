"""`vmctl host check`: what this machine (a CI runner, say) can do, each finding with
the command that fixes it. KVM is tried with a probe guest, not guessed from
/dev/kvm; the probe also measures how much slower than native this machine runs
guests, which vmctl's waits then scale with."""

from __future__ import annotations

import grp
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vmctl.local import hostspeed
from vmctl.ops.host import choose_accel
from vmctl.ops.images import ImageStore
from vmctl.policy.timeouts import REFERENCE_SLOWDOWN, scale
from vmctl.spec.domain import Accel
from vmctl.spec.image import TINY
from vmctl.spec.units import format_size
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

OK, WARN, FAIL = "ok", "warn", "fail"
KVM_PROBE_TIMEOUT = 10.0  # a real KVM (nested too) runs the probe in well under 2 s
TCG_PROBE_TIMEOUT = 120.0
MIN_POOL_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Check:
    name: str
    status: str       # ok, warn, fail
    detail: str
    fix: str = ""     # the command (or step) that fixes a warn or fail


@dataclass(frozen=True)
class HostCheck:
    checks: list[Check]
    accel: str
    slowdown: float | None = None       # guest loop / native loop under ``accel``
    probes: list[dict[str, object]] = field(default_factory=list)

    @property
    def can_run_vms(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    def to_dict(self) -> dict[str, object]:
        return {"can_run_vms": self.can_run_vms, "accel": self.accel, "slowdown": self.slowdown,
                "checks": [asdict(c) for c in self.checks], "probes": self.probes}


def check_host(host: Host, pool: Pool | None) -> HostCheck:
    facts = host.facts()
    checks = [Check("libvirt", OK, f"libvirtd answers at {facts.uri}: libvirt {facts.libvirt_version}, "
                                   f"QEMU {facts.hypervisor_version}")]
    if host.is_local:
        checks.append(_virtlogd())
    decision, virt = choose_accel(host, None)
    checks += _kvm_device(virt.kvm_device)
    checks.append(Check("nested", OK if decision.nested_available else WARN,
                        "nested virtualization is available to KVM guests" if decision.nested_available else
                        "no nested virtualization: guests cannot run KVM themselves",
                        "" if decision.nested_available else
                        "modprobe -r kvm_intel && modprobe kvm_intel nested=1 (or kvm_amd), on a host with vmx/svm"))
    checks.append(_pool(pool))
    probes: list[dict[str, object]] = []
    image = _probe_image(host, pool)
    accel, slowdown = decision.accel.value, None
    if not host.is_local:
        checks.append(Check("probe", WARN, "the probe guest runs on this machine only: KVM and speed not measured "
                                           f"for {facts.uri}", "run `vmctl host check` on that host"))
    elif image is None:
        checks.append(Check("probe", WARN, "no probe guest: the embedded image is not built",
                            "vmctl image build tiny"))
    else:
        kernel, initrd = image
        kvm_ok = False
        if virt.kvm_device:
            kvm = hostspeed.probe_guest("kvm", kernel, initrd, timeout=KVM_PROBE_TIMEOUT)
            probes.append(kvm.to_dict())
            kvm_ok = kvm.ran
            checks.append(Check("kvm", OK if kvm.ran else WARN,
                                "a probe guest ran under KVM" if kvm.ran else
                                f"KVM cannot run a guest here: {kvm.reason}; vmctl uses TCG (software emulation)",
                                "" if kvm.ran else "use a host (or runner) with hardware virtualization and nested "
                                "KVM enabled; TCG works, slower"))
        else:
            checks.append(Check("kvm", WARN, "no /dev/kvm: guests run under TCG (software emulation)",
                                "modprobe kvm_intel (or kvm_amd) on a host with vmx/svm"))
        accel = "kvm" if kvm_ok and decision.accel == Accel.KVM else "tcg"
        slowdown = _speed(accel, kernel, initrd, probes, checks)
    return HostCheck(checks, accel, slowdown, probes)


def _virtlogd() -> Check:
    pidfile = Path("/run/virtlogd.pid")
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return Check("virtlogd", FAIL, "virtlogd is not running (libvirt cannot start guests without it)",
                     "virtlogd -d   (or: systemctl start virtlogd.socket)")
    return Check("virtlogd", OK, f"virtlogd runs (pid {pid})")


def _kvm_device(present: bool) -> list[Check]:
    dev = Path("/dev/kvm")
    if not present or not dev.exists():
        return [Check("/dev/kvm", WARN, "no /dev/kvm", "modprobe kvm_intel (or kvm_amd)")]
    st = dev.stat()
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    if group != "kvm" or mode & 0o060 != 0o060:
        return [Check("/dev/kvm", WARN, f"/dev/kvm is {group} {mode:04o}: libvirt re-probes QEMU on every call "
                                        "(tens of seconds each)", "chgrp kvm /dev/kvm && chmod 0660 /dev/kvm")]
    usable = os.access(dev, os.R_OK | os.W_OK)
    return [Check("/dev/kvm", OK if usable else WARN, f"/dev/kvm is kvm {mode:04o}" +
                  ("" if usable else "; this user cannot open it"), "" if usable else "usermod -aG kvm $USER")]


def _pool(pool: Pool | None) -> Check:
    if pool is None:
        return Check("pool", WARN, "vmctl's storage pool does not exist yet", "vmctl image build tiny (creates it)")
    pool.refresh()
    free = pool.available()
    if free < MIN_POOL_BYTES:
        return Check("pool", WARN, f"pool {pool.name} at {pool.path}: only {format_size(free)} free",
                     f"free space under {pool.path}")
    return Check("pool", OK, f"pool {pool.name} at {pool.path}: {format_size(free)} free")


def _probe_image(host: Host, pool: Pool | None) -> tuple[str, str] | None:
    if pool is None:
        return None
    store = ImageStore(host, pool)
    if not store.exists(TINY):
        return None
    image = store.get(TINY)
    return (image.kernel, image.initrd) if image.kernel and image.initrd else None


def _speed(accel: str, kernel: str, initrd: str, probes: list[dict[str, object]], checks: list[Check]) -> float | None:
    native = hostspeed.native_loop_seconds()
    result = hostspeed.probe_guest(accel, kernel, initrd, timeout=TCG_PROBE_TIMEOUT)
    probes.append({**result.to_dict(), "native_loop_seconds": round(native, 3) if native else None})
    if not result.ran or not native or not result.loop_seconds:
        checks.append(Check("speed", WARN, f"not measured: {result.reason or 'no busybox on this machine'}",
                            "apt-get install busybox" if not native else ""))
        return None
    slowdown = result.loop_seconds / native
    hostspeed.save_slowdown(accel, slowdown)
    factor = scale(Accel(accel), slowdown)
    checks.append(Check("speed", OK, f"guests run {slowdown:.1f}x slower than native under {accel} (KVM: about 1x; "
                                     f"the reference machine: {REFERENCE_SLOWDOWN[Accel(accel)]:g}x under {accel}); "
                                     f"vmctl's waits are {factor:.1f}x their base"))
    return round(slowdown, 2)
