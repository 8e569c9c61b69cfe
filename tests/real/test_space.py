"""Refuse early, with numbers (issue 15, item 4), on the real tiny guest: a backup to a
file system too small, a restore into a pool too small and a start of a VM larger
than the host are refused before anything is made (exit 6, what is asked vs what is
free), and leave nothing behind. The small file systems are tmpfs mounts of this test."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.testing.ndjson import result
from vmctl.virt import domains
from vmctl.virt.storage import find_pool

VMCTL = [sys.executable, "-m", "vmctl"]


@pytest.fixture(scope="module")
def vm(module_vm: str) -> str:
    return module_vm


def small_fs(path: Path, size: str) -> Path:
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True,
                   timeout=30)
    return path


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], check=False, timeout=30)


def vmctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)


NUMBERS = re.compile(r"needs \d+(\.\d+)?([KMGT]iB|B), \d+(\.\d+)?([KMGT]iB|B) free")


def test_backup_to_a_small_file_system_is_refused(api, vm, tmp_path):
    small = small_fs(tmp_path / "small", "1m")
    try:
        def own_files() -> set[str]:  # this VM's volumes and staged backup files (other runs' come and go)
            api.pool.refresh()
            return {f for f in os.listdir(api.pool.path) if f.startswith((vm, f".{vm}"))}
        pool_before = own_files()
        proc = vmctl("backup", vm, str(small / "bk"), "--json")
        error = result(proc.stdout)["error"]
        assert proc.returncode == 6, proc.stdout
        assert f"not enough space in {small} for a backup of {vm}" in error["message"]
        assert NUMBERS.search(error["message"]) and "1MiB free" in error["message"] and error["hint"]
        assert os.listdir(small) == [] and own_files() == pool_before  # nothing staged
        assert api.info(vm).state == "running"
    finally:
        unmount(small)


@pytest.fixture
def small_pool(api: Vmctl, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A pool of this test's own on a 4 MiB tmpfs (its name carries the run's marker)."""
    name = f"t-{os.getpid():x}-{secrets.token_hex(3)}-pool"
    path = small_fs(tmp_path / "pool", "4m")
    try:
        yield {"VMCTL_POOL": name, "VMCTL_POOL_PATH": str(path)}
    finally:
        pool = find_pool(api.host, name)
        if pool is not None:
            for volume in pool.volume_names():
                pool.delete_volume(volume)
        for pool_obj in api.host.conn.listAllStoragePools(0):
            if pool_obj.name() == name:
                if pool_obj.isActive():
                    pool_obj.destroy()
                pool_obj.undefine()
        unmount(path)
        shutil.rmtree(path, ignore_errors=True)


def test_restore_into_a_small_pool_is_refused(api, vm, tmp_path, small_pool):
    backup = tmp_path / "bk"
    api.backup(vm, backup)
    new = f"{vm}-r"
    proc = vmctl("restore", str(backup), "--name", new, "--json", env=small_pool)
    error = result(proc.stdout)["error"]
    assert proc.returncode == 6, proc.stdout
    assert f"not enough space in pool {small_pool['VMCTL_POOL']} for the disks of backup" in error["message"]
    assert NUMBERS.search(error["message"]), error
    assert not domains.exists(api.host, new)
    pool = find_pool(api.host, small_pool["VMCTL_POOL"])
    assert pool is None or pool.volume_names() == []


def test_start_of_a_vm_larger_than_the_host_is_refused(api, tiny, vm_name):
    api.create(vm_name, start=False)
    dom = domains.lookup(api.host, vm_name)
    xml = dom.xml(inactive=True)
    huge = re.sub(r"<memory unit='KiB'>\d+</memory>", "<memory unit='KiB'>1073741824</memory>", xml)
    huge = re.sub(r"<currentMemory unit='KiB'>\d+</currentMemory>",
                  "<currentMemory unit='KiB'>1073741824</currentMemory>", huge)
    assert huge != xml
    domains.define(api.host, huge)
    proc = vmctl("start", vm_name, "--json")
    error = result(proc.stdout)["error"]
    assert proc.returncode == 6, proc.stdout
    assert re.search(r"asks for 1024\.0 GiB of memory; the host has \d+\.\d GiB in all", error["message"]), error
    assert api.info(vm_name).state == "shut-off"
