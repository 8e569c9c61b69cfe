"""``vmctl gc``: what runs left behind.

- Runs whose owner died (SIGKILL, a cancelled CI job's process tree): libvirt
  destroyed their transient guest when vmctl's connection dropped; their volumes
  and intent record are removed here (the same repair every mutating command runs).
- With ``older_than``: VMs kept by ``run --keep-on-failure`` that are older than
  that. A run still in progress holds its VM's lock and is never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vmctl.errors import Busy, VmctlError
from vmctl.ops.safety.repair import RepairFinding, repair
from vmctl.ops.vms import VmInfo, Vms
from vmctl.spec.run import RUN_LABEL
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class GcReport:
    repaired: list[RepairFinding]
    removed: list[str] = field(default_factory=list)          # kept run VMs removed (or, dry run: that would go)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (VM, why)

    def to_dict(self) -> dict[str, object]:
        return {"repaired": [f.to_dict() for f in self.repaired], "removed": self.removed,
                "skipped": [{"name": n, "reason": r} for n, r in self.skipped]}


def run_started(vm: VmInfo) -> float | None:
    """When a run VM was made (its ``vmctl.run-started`` label), or None if it is no run VM."""
    labels = dict(vm.labels)
    if RUN_LABEL not in labels:
        return None
    try:
        return float(labels.get(f"{RUN_LABEL}-started", ""))
    except ValueError:
        return None


def gc(host: Host, pool: Pool, vms: Vms, *, older_than: float | None = None, dry_run: bool = False,
       now: float | None = None) -> GcReport:
    """Remove dead runs' leftovers and (``older_than`` seconds) kept run VMs."""
    pool.refresh()
    findings = [f for f in repair(host, pool, dry_run=dry_run) if f.done or dry_run]
    report = GcReport(findings)
    if older_than is None:
        return report
    cutoff = (time.time() if now is None else now) - older_than
    for vm in vms.list():
        started = run_started(vm)
        if started is None or started > cutoff:
            continue
        if dry_run:
            report.removed.append(vm.name)
            continue
        try:
            vms.delete(vm.name)
        except Busy as exc:
            report.skipped.append((vm.name, exc.message))  # a run in progress holds it
            continue
        except VmctlError as exc:
            report.skipped.append((vm.name, exc.message))
            continue
        report.removed.append(vm.name)
    return report
