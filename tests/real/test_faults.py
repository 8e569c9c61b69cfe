"""Fault injection: vmctl stopped with SIGKILL, SIGTERM and SIGINT at every step
boundary of create (with and without --wait ssh), delete and image import.

Each run pauses vmctl at an exact checkpoint (VMCTL_TEST_PAUSE_AT, see
vmctl/local/testhooks.py), sends the signal, and checks:
- SIGTERM/SIGINT: vmctl exits 143/130, having undone what it made (or finished what
  it removed), with nothing left (how fast: bench/reliability.py);
- SIGKILL: the next vmctl command on that name (the same command again) repairs the
  dead operation, succeeds, and leaves nothing else behind;
and in every case no domain, volume, lock or intent record remains that should not.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains

VMCTL = [sys.executable, "-m", "vmctl"]
SIGNALS = [signal.SIGKILL, signal.SIGTERM, signal.SIGINT]
CREATE_POINTS = ["create:locked", "create:disk", "create:seed", "create:defined", "create:started"]
CREATE_SSH_POINTS = ["create:started", "create:ready", "create:ssh-wait"]
DELETE_POINTS = ["delete:recorded", "delete:destroyed", "delete:undefined", "delete:volumes"]
IMPORT_POINTS = ["image-import:locked", "image-import:uploaded", "image-import:verified", "image-import:described"]


def vmctl(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, (args, proc.returncode, proc.stderr)
    return proc


def stop_at(args: list[str], point: str, sig: signal.Signals, tmp_path: Path) -> tuple[int, float, str]:
    """Run vmctl until it pauses at ``point``, send ``sig``; (exit code, seconds from the
    signal to the exit, stderr)."""
    held = PausedVmctl(args, point, tmp_path)
    try:
        return held.stop(sig)
    finally:
        held.kill()


def pool_state(api: Vmctl, marker: str) -> tuple[list[str], list[str]]:
    """Domains and pool volumes (intent records included) whose name contains ``marker``."""
    pool = api.pools.ensure()
    pool.refresh()
    doms = [r.name for r in domains.list_all(api.host) if marker in r.name]
    return doms, sorted(v for v in pool.volume_names() if marker in v)


def check_signal_outcome(sig: signal.Signals, code: int, seconds: float, err: str) -> None:
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
        return
    assert code == 128 + sig, err
    assert "interrupted" in err and "Traceback" not in err, err


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("point", CREATE_POINTS)
def test_create_stopped_at_each_step(api, tiny, vm_name, tmp_path, point, sig):
    code, seconds, err = stop_at(["create", vm_name, "--memory", "256M"], point, sig, tmp_path)
    check_signal_outcome(sig, code, seconds, err)
    if sig != signal.SIGKILL:
        assert pool_state(api, vm_name) == ([], [])  # undone by vmctl itself
    # The next command on that name (create again) repairs whatever is left, and works.
    vmctl("create", vm_name, "--no-start")
    assert pool_state(api, vm_name) == ([vm_name], [f"{vm_name}-seed.iso", f"{vm_name}-vda.qcow2"])
    vmctl("delete", vm_name)
    assert pool_state(api, vm_name) == ([], [])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("point", CREATE_SSH_POINTS)
def test_create_wait_ssh_stopped_at_each_step(api, tiny, vm_name, tmp_path, point, sig):
    code, seconds, err = stop_at(["create", vm_name, "--memory", "256M", "--wait", "ssh"], point, sig, tmp_path)
    check_signal_outcome(sig, code, seconds, err)
    if sig != signal.SIGKILL:
        assert pool_state(api, vm_name) == ([], [])
        return
    # After SIGKILL during the SSH wait the VM itself was complete (create had committed):
    # the next command is a delete; before that, a create of the name must not clobber it.
    if point == "create:ssh-wait":
        assert vmctl("create", vm_name, check=False).returncode == 5  # exists already
        vmctl("delete", vm_name)
    else:
        vmctl("delete", vm_name)  # removes the half-made VM (a dead create's record)
    assert pool_state(api, vm_name) == ([], [])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("point", DELETE_POINTS)
def test_delete_stopped_at_each_step(api, tiny, vm_name, tmp_path, point, sig):
    vmctl("create", vm_name, "--memory", "256M")  # running: delete has a guest to power off
    code, seconds, err = stop_at(["delete", vm_name], point, sig, tmp_path)
    check_signal_outcome(sig, code, seconds, err)
    if sig != signal.SIGKILL:
        assert pool_state(api, vm_name) == ([], [])  # an interrupted delete is finished, not undone
        return
    proc = vmctl("delete", vm_name, check=False)  # the next command finishes the dead delete
    assert proc.returncode == 0, proc.stderr
    assert pool_state(api, vm_name) == ([], [])


@pytest.fixture
def small_image(tmp_path: Path) -> Path:
    path = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "64M"], check=True)
    return path


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("point", IMPORT_POINTS)
def test_image_import_stopped_at_each_step(api, small_image, vm_name, tmp_path, point, sig):
    name = f"{vm_name}-img"
    code, seconds, err = stop_at(["image", "import", str(small_image), "--name", name], point, sig, tmp_path)
    check_signal_outcome(sig, code, seconds, err)
    if sig != signal.SIGKILL:
        assert pool_state(api, name) == ([], [])
    vmctl("image", "import", str(small_image), "--name", name)  # repairs, then imports
    assert pool_state(api, name) == ([], [f"{name}.base.json", f"{name}.base.qcow2"])
    vmctl("image", "rm", name)
    assert pool_state(api, name) == ([], [])


def test_repair_lists_and_cleans_killed_creates(api, tiny, vm_name, tmp_path, capsys):
    """SIGKILL leaves a half-made VM: info says so, repair --dry-run lists it, repair removes it."""
    import json

    from vmctl.cli.app import run

    code, _s, _err = stop_at(["create", vm_name, "--memory", "256M"], "create:defined", signal.SIGKILL, tmp_path)
    assert code == -signal.SIGKILL
    doms, volumes = pool_state(api, vm_name)
    assert doms == [vm_name] and f"{vm_name}.intent.json" in volumes
    assert run(["repair", vm_name, "--dry-run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [finding] = report["findings"]
    assert (finding["op"], finding["state"], finding["action"], finding["done"]) == ("create", "dead", "undo", False)
    assert f"domain {vm_name}" in finding["items"] and pool_state(api, vm_name)[0] == [vm_name]
    assert run(["repair", vm_name]) == 0
    assert "undo" in capsys.readouterr().out
    assert pool_state(api, vm_name) == ([], [])
    assert run(["info", vm_name]) == 4
