"""Tier 3: real libvirtd + QEMU (TCG here) + the embedded guest 'tiny'.

These tests need `.ci/setup` to have run (daemons up, image built). They fail,
not skip, when libvirtd is missing: a skipped test proves nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from vmctl.api import Vmctl
from vmctl.errors import Busy, NotFound
from vmctl.local.process import process_start
from vmctl.spec.image import Image
from vmctl.virt import domains


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/real/" in str(item.fspath):
            item.add_marker(pytest.mark.real)


def new_vm_name() -> str:
    """``t-<pid>-<random>``: the pid tells a later run whether this run still goes on."""
    return f"t-{os.getpid():x}-{secrets.token_hex(3)}"


def left_by_a_dead_run(name: str) -> bool:
    parts = name.split("-")
    if parts[0] != "t" or len(parts) < 2:
        return False
    if len(parts) == 2:  # the older naming t-<6 hex digits>: no run of it can still be going on
        return len(parts[1]) == 6 and all(c in "0123456789abcdef" for c in parts[1])
    try:
        pid = int(parts[1], 16)
    except ValueError:
        return True
    return pid != os.getpid() and process_start(pid) is None


@pytest.fixture(scope="session")
def api() -> Iterator[Vmctl]:
    with Vmctl() as v:
        v.host_info()  # fails loudly (HostError) when libvirtd is not running
        v.repair()  # operations of an earlier, killed test run
        for vm in v.list():  # VMs of an earlier, interrupted test run (not of one still running)
            if left_by_a_dead_run(vm.name):
                try:
                    v.delete(vm.name)
                except (Busy, NotFound):
                    pass  # in use by a live operation, or gone meanwhile: not a leftover
        yield v


@pytest.fixture(scope="session")
def tiny(api: Vmctl) -> Image:
    image, _changed = api.build_tiny()
    return image


@pytest.fixture
def vm_name(api: Vmctl) -> Iterator[str]:
    name = new_vm_name()
    yield name
    if domains.exists(api.host, name):
        api.delete(name)


@pytest.fixture
def leftovers(api: Vmctl):
    """Call it to get (domain names, pool volume names) to compare before/after: those of
    this test run (everything vmctl makes for a VM, image or lock carries the name, and
    tests name theirs t-<pid>-...), so other processes' VMs coming and going meanwhile
    do not count."""
    def ours(name: str) -> bool:
        name = name.removeprefix("image:")
        if not name.startswith("t-"):
            return False
        parts = name.split("-")  # another live test run's VM (t-<its pid>-...) is not ours to count
        pid = parts[1]
        return not (len(parts) >= 3 and pid and all(c in "0123456789abcdef" for c in pid)
                    and pid != f"{os.getpid():x}" and process_start(int(pid, 16)) is not None)

    def snapshot() -> tuple[set[str], set[str]]:
        api.pool.refresh()
        return ({r.name for r in domains.list_all(api.host) if ours(r.name)},
                {v for v in api.pool.volume_names() if ours(v)})
    return snapshot
