"""Tier 3: real libvirtd + QEMU (TCG here) + the embedded guest 'tiny'.

These tests need `.ci/setup` to have run (daemons up, image built). They fail,
not skip, when libvirtd is missing: a skipped test proves nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.spec.image import Image
from vmctl.testing.marker import RunJournal, RunMarker, belongs, sweep_dead_runs
from vmctl.virt import domains

# This run's marker: every VM the run creates carries it (Vmctl(labels=...) for the API,
# VMCTL_LABELS for the CLI, in-process and in subprocesses); see vmctl/testing/marker.py.
MARKER = RunMarker.new()


def journal_dir() -> Path:
    from platformdirs import user_cache_path

    return Path(os.environ.get("VMCTL_TEST_JOURNALS") or user_cache_path("vmctl") / "test-runs")


_journal: RunJournal | None = None


def journal() -> RunJournal:
    global _journal
    if _journal is None:
        _journal = RunJournal(journal_dir(), MARKER)
    return _journal


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/real/" in str(item.fspath):
            item.add_marker(pytest.mark.real)


def new_vm_name() -> str:
    """``t-<pid>-<random>``, journaled before it is used (a later run repairs only the
    names a dead run journaled). The name marks nothing: the labels do."""
    return journal().record(f"t-{os.getpid():x}-{os.urandom(3).hex()}")


@pytest.fixture(scope="session")
def api() -> Iterator[Vmctl]:
    previous = os.environ.get("VMCTL_LABELS")
    kept = [item for item in (previous or "").split() if item.partition("=")[0] not in MARKER.labels]
    os.environ["VMCTL_LABELS"] = " ".join([*kept, MARKER.environment()])
    try:
        with Vmctl(labels=MARKER.labels) as v:
            v.host_info()  # fails loudly (HostError) when libvirtd is not running
            journal()
            sweep_dead_runs(v, journal_dir(), MARKER)  # what dead test runs left, and only that
            yield v
    finally:
        if previous is None:
            os.environ.pop("VMCTL_LABELS", None)
        else:
            os.environ["VMCTL_LABELS"] = previous


@pytest.fixture(scope="session")
def tiny(api: Vmctl) -> Image:
    image, _changed = api.build_tiny()
    return image


@pytest.fixture(scope="module")
def module_vm(api: Vmctl, tiny: Image) -> Iterator[str]:
    """One VM, booted and answering SSH, for a whole test module (removed after it)."""
    name = new_vm_name()
    try:
        api.create(name, wait_boot=True, wait_ssh=True)
        yield name
    finally:
        if domains.exists(api.host, name):
            api.delete(name)


@pytest.fixture
def vm_name(api: Vmctl) -> Iterator[str]:
    name = new_vm_name()
    yield name
    if domains.exists(api.host, name):
        api.delete(name)


@pytest.fixture
def leftovers(api: Vmctl):
    """Call it to get (domain names, pool volume names) to compare before/after: this
    run's only (domains carrying its marker or named by it; volumes and records of the
    names it journaled), so other processes' VMs coming and going meanwhile do not count."""
    def snapshot() -> tuple[set[str], set[str]]:
        api.pool.refresh()
        names = journal().names
        return ({r.name for r in domains.list_all(api.host)
                 if belongs(r.name, names) or MARKER.run in r.xml and MARKER.marks(_labels(r.xml))},
                {v for v in api.pool.volume_names() if belongs(v, names)})
    return snapshot


def _labels(xml: str) -> dict[str, str]:
    from vmctl.libvirtxml.facts import parse_domain

    return dict(parse_domain(xml).meta.labels)
