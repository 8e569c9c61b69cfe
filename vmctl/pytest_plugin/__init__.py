"""vmctl's pytest plugin (entry point ``pytest11``; ``pip install 'vmctl[pytest]'``).

Fixtures:

- ``vmctl_host``: a :class:`vmctl.api.Vmctl` on the host (``--vmctl-uri``); the
  whole module is skipped, with the reason, when the host cannot run VMs, or fails
  with ``--vmctl-require``.
- ``vmctl_vm_factory``: ``factory(image=..., template=..., memory=..., cpus=...,
  disk=..., provision=PATH)`` -> a ready :class:`VmHandle`, deleted after the test.
- ``vmctl_vm``: one VM for the whole session (booted once), as the tests left it.
- ``vmctl_clean_vm``: the same VM, reset before the test to the state it had right
  after boot (a memory checkpoint taken once per session).

When a test that used a VM fails, a failure bundle (kernel and system log, info)
is written under ``--vmctl-artifacts`` (default: pytest's temporary directory)
and named in the test's report. Every VM the plugin makes carries the label
``vmctl.pytest=<session id>`` (plus those in ``$VMCTL_LABELS``); teardown removes
those and nothing else.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vmctl.pytest_plugin.handle import GuestCommandFailed, GuestResult, VmHandle

__all__ = ["GuestCommandFailed", "GuestResult", "VmHandle"]

SESSION_LABEL = "vmctl.pytest"
_USED = pytest.StashKey[list]()   # the VmHandles a test used, for its failure bundle


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vmctl", "VMs for tests (vmctl)")
    group.addoption("--vmctl-uri", default=None, help="libvirt URI (default: $LIBVIRT_DEFAULT_URI, qemu:///system)")
    group.addoption("--vmctl-image", default="tiny", help="base image of the VMs (default: the embedded 'tiny')")
    group.addoption("--vmctl-template", default=None, help="domain XML template (default: by image)")
    group.addoption("--vmctl-memory", default=None, help="guest memory, e.g. 512M (default: the template's)")
    group.addoption("--vmctl-artifacts", default=None, help="where failure bundles go (default: pytest's tmp dir)")
    group.addoption("--vmctl-require", action="store_true",
                    help="fail, instead of skipping, when this host cannot run VMs")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "vmctl: the test uses a vmctl VM")


def _labels(session_id: str) -> dict[str, str]:
    labels = {}
    for pair in os.environ.get("VMCTL_LABELS", "").split():  # what the CI job marks everything with
        key, sep, value = pair.partition("=")
        if sep:
            labels[key] = value
    labels[SESSION_LABEL] = session_id
    return labels


@pytest.fixture(scope="session")
def vmctl_host(request: pytest.FixtureRequest) -> Iterator["object"]:
    """The vmctl API on the test host, with the plugin's labels on every VM it makes."""
    from vmctl.api import Vmctl
    from vmctl.errors import VmctlError

    config = request.config
    api = Vmctl(config.getoption("vmctl_uri"), labels=_labels(secrets.token_hex(4)))
    try:
        api.host_info()
        if config.getoption("vmctl_image") == "tiny":
            api.build_tiny()  # once per machine: cached
    except VmctlError as exc:
        api.close()
        reason = f"vmctl: this host cannot run VMs: {exc.message} ({exc.hint})"
        if config.getoption("vmctl_require"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    try:
        yield api
    finally:
        api.close()


def _create(api, request: pytest.FixtureRequest, name: str, **options: object) -> VmHandle:
    config = request.config
    defaults = {"image": config.getoption("vmctl_image"), "template": config.getoption("vmctl_template"),
                "memory": config.getoption("vmctl_memory")}
    merged = {**defaults, **{k: v for k, v in options.items() if v is not None}}
    provision = merged.pop("provision", None)
    api.create(name, wait_boot=True, wait_ssh=True, **merged)
    handle = VmHandle(api, name)
    if provision is not None:
        try:
            api.provision(name, provision)
        except BaseException:
            api.delete(name)
            raise
    return handle


def _vm_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


@pytest.fixture
def vmctl_vm_factory(vmctl_host, request: pytest.FixtureRequest) -> Iterator[Callable[..., VmHandle]]:
    """``factory(image=, template=, memory=, cpus=, disk=, provision=)`` -> a ready VM,
    deleted when the test ends (also when it fails)."""
    made: list[VmHandle] = []

    def factory(**options: object) -> VmHandle:
        handle = _create(vmctl_host, request, _vm_name("pt"), **options)
        made.append(handle)
        _used(request).append(handle)
        return handle

    yield factory
    for handle in reversed(made):
        _delete_quietly(vmctl_host, handle.name)


class _SessionVm:
    """The session's shared VM and its clean checkpoint (a memory snapshot)."""

    CHECKPOINT = "vmctl-pytest-clean"

    def __init__(self, api, handle: VmHandle) -> None:
        self.api, self.handle = api, handle
        self.dirty = False
        api.snapshot_create(handle.name, self.CHECKPOINT, description="vmctl pytest plugin: state after boot")

    def reset(self) -> None:
        """Back to the checkpoint; returns once the guest answers SSH (clock set)."""
        self.api.snapshot_revert(self.handle.name, self.CHECKPOINT, wait_ssh=True)
        self.dirty = False


@pytest.fixture(scope="session")
def _vmctl_session_vm(vmctl_host, request: pytest.FixtureRequest) -> Iterator[_SessionVm]:
    handle = _create(vmctl_host, request, _vm_name("pts"))
    try:
        yield _SessionVm(vmctl_host, handle)
    finally:
        _delete_quietly(vmctl_host, handle.name)


@pytest.fixture
def vmctl_vm(_vmctl_session_vm: _SessionVm, request: pytest.FixtureRequest) -> VmHandle:
    """The session's VM as earlier tests left it (booted once per session)."""
    _vmctl_session_vm.dirty = True
    _used(request).append(_vmctl_session_vm.handle)
    return _vmctl_session_vm.handle


@pytest.fixture
def vmctl_clean_vm(_vmctl_session_vm: _SessionVm, request: pytest.FixtureRequest) -> VmHandle:
    """The session's VM reset to its state right after boot: files, processes and
    tmpfs contents of earlier tests are gone; the clock is the host's."""
    if _vmctl_session_vm.dirty:  # the first test after the checkpoint finds it clean already
        _vmctl_session_vm.reset()
    _vmctl_session_vm.dirty = True
    _used(request).append(_vmctl_session_vm.handle)
    return _vmctl_session_vm.handle


def _used(request: pytest.FixtureRequest) -> list[VmHandle]:
    item = request.node
    if _USED not in item.stash:
        item.stash[_USED] = []
    return item.stash[_USED]


def _delete_quietly(api, name: str) -> None:
    from vmctl.errors import NotFound

    try:
        api.delete(name)
    except NotFound:
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed or not item.stash.get(_USED, None):
        return
    root = _artifacts(item.config) / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)[-120:]
    lines = []
    for handle in item.stash[_USED]:
        try:
            path = handle.api.failure_bundle(handle.name, root, reason=f"test {item.nodeid} failed")
        except Exception as exc:  # noqa: BLE001 - a bundle must never hide the test's own failure
            lines.append(f"{handle.name}: no bundle ({exc})")
            continue
        dmesg = (path / "dmesg.txt").read_text(errors="replace").splitlines()[-5:]
        lines.append(f"{handle.name}: {path}\n  last kernel lines:\n    " + "\n    ".join(dmesg))
    report.sections.append(("vmctl failure bundle", "\n".join(lines)))


def _artifacts(config: pytest.Config) -> Path:
    given = config.getoption("vmctl_artifacts")
    if given:
        return Path(given)
    factory = getattr(config, "_tmp_path_factory", None)
    base = factory.getbasetemp() if factory is not None else Path.cwd()
    return Path(base) / "vmctl-artifacts"
