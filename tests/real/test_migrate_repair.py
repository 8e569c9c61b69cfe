"""Repairing killed migrations on shared storage, from either host (issue 13): the one
record both hosts read names them by host UUID, so the repair on the destination
knows it is the destination (the bug: it took itself for the source and destroyed
the only running copy). A forged record's peer URI never runs a program; a
--keep-source definition on shared storage owns no disks; pre-flight refuses disks
another domain uses. One booted guest (shared storage) serves the module and moves
between the two lab hosts; vmctl runs as a subprocess killed at exact checkpoints."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.process import me
from vmctl.ops.safety.intents import RECORD_BYTES, record_volume
from vmctl.spec.intent import IntentRecord
from vmctl.spec.migration_record import HostRef, MigrationSpec
from vmctl.testing.lab.testlab import LabView, migration_lab
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import find_pool

REPO = Path(__file__).resolve().parents[2]
POOL = "shared"


def new_vm_name() -> str:
    return f"t-{os.getpid():x}-{secrets.token_hex(3)}"


@pytest.fixture(scope="module")
def lab(api: Vmctl) -> Iterator[LabView]:
    with migration_lab(2) as view:
        yield view


@pytest.fixture(scope="module")
def guest(lab: LabView) -> str:
    name = new_vm_name()
    with Vmctl(lab.host("lab1").uri, pool=POOL) as v:
        v.create(name, wait_boot=True)
    return name


def env(lab: LabView, **extra: str) -> dict[str, str]:
    """The lab's hosts are the known hosts (VMCTL_LAB_DIR): what `vmctl lab up` gives a person."""
    return {**os.environ, "PYTHONPATH": str(REPO), "VMCTL_POOL": POOL, "VMCTL_LAB_DIR": str(lab.lab.root), **extra}


def vmctl(lab: LabView, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", "-c", lab.host(host).uri, *args], env=env(lab),
                          capture_output=True, text=True, timeout=300)


def other(host: str) -> str:
    return "lab2" if host == "lab1" else "lab1"


def hosts_of(lab: LabView, name: str) -> tuple[str, str]:
    where = lab.where(name)
    assert len(where) == 1, where
    return where[0], other(where[0])


def assert_only_on(lab: LabView, name: str, host: str) -> None:
    """Running and defined on ``host`` only; no record left; its disks untouched."""
    assert lab.where(name) == [host]
    assert lab.domains(host)[name] == ("running", True)
    assert record_volume(name) not in lab.files(host, POOL)
    assert {f"{name}-vda.qcow2", f"{name}-cidata.iso"} <= lab.files(host, POOL)


def kill_migration_at(lab: LabView, name: str, src: str, dest: str, at: str, tmp: Path, *args: str) -> None:
    """`vmctl -c SRC migrate NAME DEST` SIGKILLed at checkpoint ``at``."""
    pause = tmp / f"pause-{secrets.token_hex(3)}"
    proc = subprocess.Popen([sys.executable, "-m", "vmctl", "-c", lab.host(src).uri, "migrate", name,
                             lab.host(dest).uri, *args],
                            env=env(lab, VMCTL_TEST_PAUSE_AT=at, VMCTL_TEST_PAUSE_FILE=str(pause)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not pause.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pause.exists(), f"vmctl never reached {at}: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
        proc.kill()
        proc.wait(30)
    finally:
        pause.unlink(missing_ok=True)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert record_volume(name) in lab.files(src, POOL)  # the one record, in the storage both hosts see


@pytest.mark.parametrize("at,repair_on,refresh", [
    ("migrate:transferred", "destination", True),    # the reproduction, with `virsh pool-refresh`
    ("migrate:transferred", "destination", False),   # ... and with the destination's stale listing
    ("migrate:transferred", "source", False),
    ("migrate:running", "destination", False),
    ("migrate:running", "source", False),
])
def test_killed_shared_migration_repaired_on_either_host(lab: LabView, guest: str, tmp_path: Path, at: str,
                                                         repair_on: str, refresh: bool):
    src, dest = hosts_of(lab, guest)
    kill_migration_at(lab, guest, src, dest, at, tmp_path, *(["--bandwidth", "2"] if at == "migrate:running" else []))
    if at == "migrate:transferred":
        assert lab.where(guest) == [dest]  # the guest runs on the destination; the record is left
    here = dest if repair_on == "destination" else src
    if refresh:
        subprocess.run(["virsh", "-c", lab.local_uri(here), "pool-refresh", POOL], check=True, capture_output=True,
                       timeout=60)
    run = vmctl(lab, here, "repair")
    keep = "destination" if at == "migrate:transferred" else "source"
    assert run.returncode == 0 and f"keep {guest} on the {keep}" in run.stdout, (run.stdout, run.stderr)
    assert_only_on(lab, guest, dest if keep == "destination" else src)
    again = vmctl(lab, other(here), "repair")  # the other host's repair: nothing left to do
    assert again.returncode == 0 and guest not in again.stdout, (again.stdout, again.stderr)
    assert_only_on(lab, guest, dest if keep == "destination" else src)


def test_concurrent_repairs_from_both_hosts(lab: LabView, guest: str, tmp_path: Path):
    src, dest = hosts_of(lab, guest)
    kill_migration_at(lab, guest, src, dest, "migrate:transferred", tmp_path)
    procs = [subprocess.Popen([sys.executable, "-m", "vmctl", "-c", lab.host(h).uri, "repair"], env=env(lab),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for h in (src, dest)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert any(f"keep {guest} on the destination" in out for out, _ in results), results
    assert not any("on the source" in out for out, _ in results), results
    assert_only_on(lab, guest, dest)


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_forged_record_never_runs_its_peer_command(lab: LabView, tmp_path: Path):
    """A dead "migrate" whose other host is `qemu+ssh://root@127.0.0.1/system?command=SCRIPT`,
    put into the shared pool through libvirt: `vmctl repair` refuses, names --peer, and
    the script never runs (its marker file is absent); the record stays."""
    marker, script = tmp_path / "ran", tmp_path / "x.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(0o755)
    name = new_vm_name()
    spec = MigrationSpec(uuid="6d1b7a58-8cf6-4cf1-9a53-000000000000", pool=POOL, live=True, storage="shared",
                         source=HostRef("6d1b7a58-8cf6-4cf1-9a53-111111111111",
                                        f"qemu+ssh://root@127.0.0.1/system?command={script}"),
                         destination=HostRef(lab.host("lab1").host_uuid, lab.host("lab1").uri))
    owner = replace(me(), pid=dead_pid(), start=1)
    record = IntentRecord("migrate", name, owner, time.time() - 3600, time.time() - 3600, data=spec.to_data())
    with Host(lab.local_uri("lab1")) as h:
        pool = find_pool(h, POOL)
        pool.create_volume(volume_xml(record_volume(name), RECORD_BYTES, "raw"))
        try:
            pool.upload(record_volume(name), record.to_json().ljust(RECORD_BYTES, b" "))
            for args in (["repair"], ["repair", name]):
                run = vmctl(lab, "lab1", *args)
                assert run.returncode != 0 and "--peer" in run.stderr and "Traceback" not in run.stderr, run.stderr
                assert "run a program" in run.stderr
            assert not marker.exists()
            pool.refresh()
            assert pool.has_volume(record_volume(name))  # nothing was changed
        finally:
            pool.delete_volume(record_volume(name))
    assert not marker.exists()


def test_keep_source_on_shared_storage_owns_no_disks(lab: LabView, tmp_path: Path):
    """`migrate --keep-source` over shared storage, then `vmctl delete` of the kept
    definition: the disks the destination runs on stay."""
    name = new_vm_name()
    with Vmctl(lab.host("lab1").uri, pool=POOL) as a:
        a.create(name, start=False)
    disks = lab.vm_files("lab1", name, POOL)
    assert vmctl(lab, "lab1", "migrate", name, lab.host("lab2").uri, "--keep-source").returncode == 0
    assert sorted(lab.where(name)) == ["lab1", "lab2"]
    with Vmctl(lab.host("lab2").uri, pool=POOL) as b:
        b.start(name)
        deleted = vmctl(lab, "lab1", "delete", name)
        assert deleted.returncode == 0, deleted.stderr
        assert lab.where(name) == ["lab2"] and lab.domains("lab2")[name] == ("running", True)
        assert lab.vm_files("lab1", name, POOL) == disks  # the destination's disks are all there
        b.delete(name)
    assert lab.vm_files("lab1", name, POOL) == set()


def test_pre_flight_refuses_disks_another_domain_uses(lab: LabView, guest: str):
    src, dest = hosts_of(lab, guest)
    with Host(lab.local_uri(src)) as h:
        xml = domains.lookup(h, guest).xml(inactive=True)
    borrower = new_vm_name()
    xml = re.sub(r"<uuid>[^<]*</uuid>", "", xml.replace(f"<name>{guest}</name>", f"<name>{borrower}</name>"))
    for where in (src, dest):
        with Host(lab.local_uri(where)) as h:
            domains.define(h, xml)
            try:
                run = vmctl(lab, src, "migrate", guest, lab.host(dest).uri, "--dry-run")
                assert run.returncode == 5 and f"used by VM {borrower}" in run.stderr, run.stderr
                assert "not its alone" in run.stderr
            finally:
                domains.lookup(h, borrower).undefine()
    assert_only_on(lab, guest, src)


def test_unknown_peer_needs_peer_option(lab: LabView, guest: str, tmp_path: Path):
    """Where the other host is no known host, repair does not use the URI the record
    names: it refuses, changing nothing, until the user gives it with --peer."""
    src, dest = hosts_of(lab, guest)
    kill_migration_at(lab, guest, src, dest, "migrate:transferred", tmp_path)
    unknown = env(lab, VMCTL_LAB_DIR=str(tmp_path / "no-lab"))
    argv = [sys.executable, "-m", "vmctl", "-c", lab.host(dest).uri, "repair", guest]
    run = subprocess.run(argv, env=unknown, capture_output=True, text=True, timeout=300)
    assert run.returncode == 5 and "--peer" in run.stderr and "does not connect to it" in run.stderr, run.stderr
    assert lab.where(guest) == [dest] and record_volume(guest) in lab.files(dest, POOL)
    run = subprocess.run([*argv, "--peer", lab.host(src).uri], env=unknown, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and f"keep {guest} on the destination" in run.stdout, (run.stdout, run.stderr)
    assert_only_on(lab, guest, dest)
