"""The real-test harness's run marker: what it makes carries it, and only what carries
a dead run's marker is ever cleaned up.

Every VM a test run creates carries two labels (vmctl's metadata, see `vmctl create
--label`): ``vmctl.test-run`` (this run: ``<pid>-<random>``) and ``vmctl.test-owner``
(the pytest process: machine, boot, pid namespace, pid, start time). A later run
deletes a VM only when both are there and the owner is provably gone (same machine
and pid namespace; another boot, or no process with that pid and start time); a VM
without them, whatever its name, is never touched. The run also journals, before it
makes anything, the names it uses (:class:`RunJournal`): repair of a dead run's
half-made operations is asked for those names only, never for the whole pool.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import Busy, NotFound, VmctlError
from vmctl.local.process import boot_id, machine_id, process_start

if TYPE_CHECKING:
    from vmctl.api import Vmctl

RUN_KEY = "vmctl.test-run"
OWNER_KEY = "vmctl.test-owner"
JOURNAL_SUFFIX = ".names"


def _pid_namespace() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return "0"


def owner_of(pid: int) -> str:
    """``<machine>.<boot>.<pid namespace>.<pid>.<start>`` of a process of this machine
    (short prefixes of machine-id and boot id: a label value holds at most 63 characters)."""
    return f"{machine_id()[:12]}.{boot_id()[:8]}.{_pid_namespace()}.{pid}.{process_start(pid) or 0}"


def owner_state(owner: str) -> str:
    """"alive", "dead", or "unknown" (another machine or pid namespace, or not an owner
    this harness wrote): only "dead" lets a sweep remove what the owner made."""
    parts = owner.split(".")
    if len(parts) != 5 or not all(parts) or not parts[3].isdigit() or not parts[4].isdigit():
        return "unknown"
    machine, boot, pidns, pid, start = parts
    if machine != machine_id()[:12] or pidns != _pid_namespace():
        return "unknown"
    if boot != boot_id()[:8]:
        return "dead"  # the machine restarted since: no process of that boot runs
    return "alive" if process_start(int(pid)) == int(start) else "dead"


@dataclass(frozen=True)
class RunMarker:
    run: str
    owner: str

    @classmethod
    def new(cls) -> "RunMarker":
        pid = os.getpid()
        return cls(f"{pid:x}-{secrets.token_hex(3)}", owner_of(pid))

    @property
    def labels(self) -> dict[str, str]:
        return {RUN_KEY: self.run, OWNER_KEY: self.owner}

    def environment(self) -> str:
        """The value of VMCTL_LABELS that puts the marker on VMs made through the CLI."""
        return " ".join(f"{k}={v}" for k, v in self.labels.items())

    def marks(self, labels: dict[str, str]) -> bool:
        return labels.get(RUN_KEY) == self.run


class RunJournal:
    """``<run>.names`` in ``directory``: the owner on the first line, then every name the
    run uses, written before the name is used (a SIGKILL of the run leaves it complete)."""

    def __init__(self, directory: Path, marker: RunMarker) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = directory / f"{marker.run}{JOURNAL_SUFFIX}"
        self.marker = marker
        self.names: list[str] = []
        with open(self.path, "a", encoding="ascii") as f:
            f.write(marker.owner + "\n")

    def record(self, name: str) -> str:
        with open(self.path, "a", encoding="ascii") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.names.append(name)
        return name


def belongs(name: str, names: Iterable[str]) -> bool:
    """Is a domain, volume or record target ``name`` one of ``names``' (the name itself,
    ``NAME-...`` or ``NAME.`` anything; an image's ``image:`` prefix aside)?"""
    name = name.removeprefix("image:")
    return any(name == n or name.startswith((f"{n}-", f"{n}.")) for n in names)


@dataclass
class SweepReport:
    deleted: list[str] = field(default_factory=list)     # VMs of dead runs
    repaired: list[str] = field(default_factory=list)    # record targets of dead runs
    kept: list[str] = field(default_factory=list)        # marked VMs whose owner is alive or unknown
    problems: list[str] = field(default_factory=list)


def sweep_dead_runs(api: "Vmctl", journals: Path, me: RunMarker) -> SweepReport:
    """Remove what earlier, dead test runs left: operations of the names they journaled
    (repair by name) and VMs carrying their marker. Nothing else, whatever its name."""
    report = SweepReport()
    dead_names: list[str] = []
    done_journals: list[Path] = []
    for path in sorted(journals.glob(f"*{JOURNAL_SUFFIX}")) if journals.is_dir() else []:
        if path.name == f"{me.run}{JOURNAL_SUFFIX}":
            continue
        lines = path.read_text(encoding="ascii", errors="replace").split()
        if lines and owner_state(lines[0]) == "dead":
            dead_names += lines[1:]
            done_journals.append(path)
    if dead_names:
        for finding in api.repair(dry_run=True).findings:  # reads only; then repair by name
            if finding.state in ("dead", "unreadable") and belongs(finding.target, dead_names):
                try:
                    api.repair(finding.target)
                    report.repaired.append(finding.target)
                except VmctlError as exc:
                    report.problems.append(f"{finding.target}: {exc.message}")
    for vm in api.list():
        run, owner = vm.labels.get(RUN_KEY), vm.labels.get(OWNER_KEY)
        if run is None or owner is None or run == me.run:
            continue  # not the harness's, or this run's own
        if owner_state(owner) != "dead":
            report.kept.append(vm.name)
            continue
        try:
            api.delete(vm.name)
            report.deleted.append(vm.name)
        except (Busy, NotFound):
            pass  # in use by a live operation, or gone meanwhile
        except VmctlError as exc:
            report.problems.append(f"{vm.name}: {exc.message}")
    if not report.problems:
        for path in done_journals:
            path.unlink(missing_ok=True)
    return report
