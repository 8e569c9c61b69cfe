"""A lab for one test module: ``with test_lab(2) as (lab, status): ...``.

Each test run's labs live in ``/var/lib/vmctl-lab-t<pid>-<random>`` (root's, like the
CLI's), so they never meet a lab a person brought up with ``vmctl lab up``. Each holds
its run's owner identity (``.test-owner``, see vmctl.testing.marker): labs whose owner
is provably gone are taken down first; a directory without one is never touched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vmctl.errors import VmctlError
from vmctl.testing.lab.cluster import TEST_OWNER, Lab, LabStatus
from vmctl.testing.marker import owner_of, owner_state

BASE = Path("/var/lib")
PREFIX = "vmctl-lab-t"


def remove_dead_test_labs() -> list[str]:
    """Take down the labs of test runs whose owner is provably gone; returns their directories."""
    removed = []
    for root in sorted(BASE.glob(f"{PREFIX}*")):
        try:
            owner = (root / TEST_OWNER).read_text().strip()
        except OSError:
            continue  # no owner written: not provably a dead run's
        if owner_state(owner) != "dead":
            continue
        try:
            Lab(root).down()
            removed.append(str(root))
        except (VmctlError, OSError):
            pass
    return removed


@contextmanager
def test_lab(hosts: int = 2) -> Iterator[tuple[Lab, LabStatus]]:
    remove_dead_test_labs()
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=BASE))
    (root / TEST_OWNER).write_text(owner_of(os.getpid()) + "\n")
    lab = Lab(root)
    try:
        yield lab, lab.up(hosts)
    finally:
        lab.down()


test_lab.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever pytest thinks of the name


class LabView:
    """What tests look at in a lab, from this machine's root (hosts' unix sockets and
    directories), independent of the SSH path vmctl itself uses."""

    def __init__(self, lab: Lab, status: LabStatus) -> None:
        self.lab, self.status = lab, status
        self.hosts = {h.name: h for h in status.hosts}

    def host(self, name: str):  # -> LabHostInfo
        return self.hosts[name]

    def local_uri(self, name: str) -> str:
        return f"qemu+unix:///system?socket={self.hosts[name].socket}"

    def domains(self, name: str) -> dict[str, tuple[str, bool]]:
        """{domain: (state, persistent)} on host ``name``."""
        from vmctl.virt import domains
        from vmctl.virt.host import Host

        with Host(self.local_uri(name)) as host:
            return {r.name: (r.state, r.persistent) for r in domains.list_all(host)}

    def where(self, vm: str) -> list[str]:
        """The hosts that have a domain named ``vm``."""
        return [h for h in self.hosts if vm in self.domains(h)]

    def files(self, name: str, pool: str = "vmctl") -> set[str]:
        """Files in host ``name``'s local pool ('vmctl') or in the shared pool."""
        directory = self.lab.shared_dir if pool == "shared" else Path(self.hosts[name].root) / "local"
        return {p.name for p in directory.iterdir()}

    def vm_files(self, name: str, vm: str, pool: str = "vmctl") -> set[str]:
        return {f for f in self.files(name, pool) if f.startswith((f"{vm}-", f"{vm}."))}

    def qemu_pid(self, name: str, vm: str) -> int:
        return int((Path(self.hosts[name].root) / "run" / "qemu" / f"{vm}.pid").read_text().strip())


@contextmanager
def migration_lab(hosts: int = 2) -> Iterator[LabView]:
    """A lab whose hosts each have the tiny image on their own storage, and once on the
    storage all of them see (pool "shared"): what migration tests start from."""
    from vmctl.api import Vmctl

    with test_lab(hosts) as (the_lab, status):
        view = LabView(the_lab, status)
        for host in status.hosts:
            with Vmctl(host.uri) as v:
                v.build_tiny()
        with Vmctl(status.hosts[0].uri, pool="shared") as v:
            v.build_tiny()
        yield view


def mounts_mentioning(text: str) -> list[str]:
    """Mount table lines of any process that mention ``text`` (a lab's directory)."""
    hits = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                hits += [ln for ln in (entry / "mountinfo").read_text().splitlines() if text in ln]
            except OSError:
                pass
    return hits
