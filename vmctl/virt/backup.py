"""libvirt's backup API (push mode): QEMU copies a running VM's disks, flattened, to
files, while the guest goes on."""

from __future__ import annotations

import time
from collections.abc import Callable

import libvirt

from vmctl.errors import OperationFailed, Timeout
from vmctl.virt.domains import Domain
from vmctl.virt.errors import libvirt_errors


def push_backup(dom: Domain, xml: str, *, timeout: float, progress: Callable[[int, int], None] | None = None) -> None:
    """Start a push backup and wait (bounded) until it completed; abort it on failure or
    on an interrupt so QEMU does not go on writing."""
    with libvirt_errors(f"start a backup of {dom.name}"):
        dom._dom.backupBegin(xml, None, 0)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with libvirt_errors(f"read the backup job of {dom.name}"):
                stats = dom._dom.jobStats(0)
            if stats.get("type", libvirt.VIR_DOMAIN_JOB_NONE) == libvirt.VIR_DOMAIN_JOB_NONE:
                break
            if progress:
                progress(int(stats.get("disk_processed", 0)), int(stats.get("disk_total", 0)))
            if time.monotonic() > deadline:
                raise Timeout(f"the backup of {dom.name} did not finish within {timeout:.0f} s",
                              hint="a larger disk needs more time; the partial copy was removed")
            time.sleep(0.1)
    except BaseException:
        try:
            dom._dom.abortJob()
        except libvirt.libvirtError:
            pass
        raise
    with libvirt_errors(f"read the backup job of {dom.name}"):
        done = dom._dom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
    if done.get("type") != libvirt.VIR_DOMAIN_JOB_COMPLETED:
        raise OperationFailed(f"the backup of {dom.name} failed: {done.get('errmsg', 'no reason given')}",
                              hint="see libvirtd's log; the partial copy was removed")
    if progress:  # the last sample: a short job can end before the first one
        total = int(done.get("disk_total", 0))
        progress(int(done.get("disk_processed", total)), total)
