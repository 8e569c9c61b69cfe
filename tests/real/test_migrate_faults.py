"""Migration failures never lose the guest (docs/migration.md, reliability #1-#6, #20, #22).

For each fault: vmctl exits with its own code and a clear message, the guest runs
on exactly one host (unpaused), the other host keeps no domain, volume or intent
record, and a retry succeeds. vmctl runs as a subprocess where it must be stopped
at an exact step (test-only pause points, vmctl/local/testhooks.py). Two VMs (one
on shared storage, one copied) serve the module and move between the two hosts."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.testing.lab import link
from vmctl.testing.lab.testlab import LabView, migration_lab
from vmctl.virt import domains
from vmctl.virt.host import Host

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Guest:
    name: str
    pool: str  # "shared" or "vmctl" (each host's own: --copy-storage)

    @property
    def copy(self) -> list[str]:
        return ["--copy-storage"] if self.pool == "vmctl" else []


@pytest.fixture(scope="module")
def lab(api: Vmctl) -> Iterator[LabView]:
    # the lab's hosts are known hosts (as after `vmctl lab up`): a repair may reach them
    with migration_lab(2) as view, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMCTL_LAB_DIR", str(view.lab.root))
        yield view


def _boot(lab: LabView, pool: str) -> Guest:
    guest = Guest(f"t-{os.getpid():x}-{secrets.token_hex(3)}", pool)
    with Vmctl(lab.host("lab1").uri, pool=pool) as v:
        v.create(guest.name, wait_boot=True)
    return guest


@pytest.fixture(scope="module")
def shared_vm(lab: LabView) -> Guest:
    return _boot(lab, "shared")


@pytest.fixture(scope="module")
def copied_vm(lab: LabView) -> Guest:
    return _boot(lab, "vmctl")


def hosts_of(lab: LabView, guest: Guest) -> tuple[str, str]:
    """(where the guest is, the other host)."""
    where = lab.where(guest.name)
    assert len(where) == 1, where
    return where[0], "lab2" if where[0] == "lab1" else "lab1"


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True).stdout.strip()


def env_for(guest: Guest, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "VMCTL_POOL": guest.pool, **extra}


def vmctl(lab: LabView, guest: Guest, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", "-c", lab.host(host).uri, *args], env=env_for(guest),
                          capture_output=True, text=True, timeout=300)


@contextmanager
def paused_migration(lab: LabView, guest: Guest, src: str, dest: str, at: str, *args: str,
                     tmp: Path) -> Iterator[subprocess.Popen[str]]:
    """`vmctl migrate` stopped at pause point ``at`` (it waits there while the pause file
    exists); the test acts, then ``release(proc)``. The process is gone afterwards."""
    pause = tmp / f"pause-{secrets.token_hex(3)}"
    argv = [sys.executable, "-m", "vmctl", "-c", lab.host(src).uri, "migrate", guest.name, lab.host(dest).uri,
            *guest.copy, *args]
    proc = subprocess.Popen(argv, env=env_for(guest, VMCTL_TEST_PAUSE_AT=at, VMCTL_TEST_PAUSE_FILE=str(pause)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.pause_file = pause  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + 90
        while not pause.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pause.exists(), f"vmctl never reached {at}: {proc.poll()} {proc.stderr.read() if proc.poll() else ''}"
        yield proc
    finally:
        pause.unlink(missing_ok=True)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def release(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.pause_file.unlink(missing_ok=True)  # type: ignore[attr-defined]
    _out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def assert_only_on(lab: LabView, guest: Guest, host: str, state: str = "running") -> None:
    """The guest is on ``host`` only, in ``state``; no leftovers anywhere."""
    other = "lab2" if host == "lab1" else "lab1"
    assert lab.where(guest.name) == [host]
    assert lab.domains(host)[guest.name] == (state, True)
    for h in ("lab1", "lab2"):
        assert f"{guest.name}.intent.json" not in lab.files(h, guest.pool)
    if guest.pool == "vmctl":
        assert lab.vm_files(other, guest.name) == set()
        assert lab.vm_files(host, guest.name) == {f"{guest.name}-vda.qcow2", f"{guest.name}-cidata.iso"}


def retry(lab: LabView, guest: Guest, src: str, dest: str) -> None:
    done = vmctl(lab, guest, src, "migrate", guest.name, lab.host(dest).uri, *guest.copy)
    assert done.returncode == 0, done.stderr
    assert_only_on(lab, guest, dest)


def test_pre_flight_refusals_change_nothing(lab: LabView, shared_vm: Guest, copied_vm: Guest):
    src, dest = hosts_of(lab, shared_vm)
    dest_uri, src_uri = lab.host(dest).uri, lab.host(src).uri
    ok = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, dest_uri, "--dry-run")
    assert ok.returncode == 0 and "dry run: all 10 checks passed" in ok.stdout, ok.stderr
    key_params = dest_uri.split("?", 1)[1]
    nowhere = f"qemu+ssh://root@127.0.0.1:1/system?{key_params}"  # nothing listens there: loopback only
    cases = [
        ([src_uri], 3, "destination", "is the source host itself"),
        ([nowhere], 7, "destination", "cannot connect to libvirt"),
        (["qemu+tcp://127.0.0.1:1/system"], 3, "transport", "plain-text"),
        (["qemu+tcp://127.0.0.1:1/system", "--insecure-transport"], 7, "destination", "cannot connect"),
    ]
    for args, code, check, text in cases:
        for dry in (["--dry-run"], []):
            run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, *args, *dry)
            assert run.returncode == code, (args, run.stderr)
            assert f"check  {check:<12} FAILED" in run.stderr and text in run.stderr, run.stderr
    # the destination has a domain of that name
    with Host(lab.local_uri(src)) as h:
        xml = domains.lookup(h, shared_vm.name).xml(inactive=True)
    with Host(lab.local_uri(dest)) as h:
        import re

        domains.define(h, re.sub(r"<uuid>[^<]*</uuid>", "", xml))
        try:
            run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, dest_uri)
            assert run.returncode == 5 and "FAILED" in run.stderr and "already has a domain" in run.stderr
        finally:
            domains.lookup(h, shared_vm.name).undefine()
    # a paused guest stays paused where it is
    subprocess.run(["virsh", "-c", lab.local_uri(src), "suspend", shared_vm.name], check=True, capture_output=True)
    try:
        run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, dest_uri)
        assert run.returncode == 5 and "is paused" in run.stderr and "resume it" in run.stderr
        assert lab.domains(src)[shared_vm.name][0] == "paused"
    finally:
        subprocess.run(["virsh", "-c", lab.local_uri(src), "resume", shared_vm.name], check=True, capture_output=True)
    # snapshots present (shared storage): they travel, and the pre-flight says so (ops/carry.py)
    virsh = ["virsh", "-c", lab.local_uri(src)]
    subprocess.run([*virsh, "snapshot-create-as", shared_vm.name, "s1"], check=True, capture_output=True, timeout=60)
    try:
        run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, dest_uri, "--dry-run")
        assert run.returncode == 0 and "1 snapshot(s), carried along" in run.stderr, run.stderr
    finally:
        subprocess.run([*virsh, "snapshot-delete", shared_vm.name, "s1"], check=True, capture_output=True, timeout=60)
    # local disks the destination cannot see, without --copy-storage
    csrc, cdest = hosts_of(lab, copied_vm)
    run = vmctl(lab, copied_vm, csrc, "migrate", copied_vm.name, lab.host(cdest).uri, "--dry-run")
    assert run.returncode == 13 and "cannot see" in run.stderr and "--copy-storage" in run.stderr
    assert_only_on(lab, shared_vm, src)
    assert_only_on(lab, copied_vm, csrc)


def test_destination_qemu_killed(lab: LabView, copied_vm: Guest, tmp_path: Path):
    src, dest = hosts_of(lab, copied_vm)
    with paused_migration(lab, copied_vm, src, dest, "migrate:running", "--bandwidth", "2", tmp=tmp_path) as proc:
        os.kill(lab.qemu_pid(dest, copied_vm.name), signal.SIGKILL)
        code, err = release(proc)
    assert code == 13, err
    assert f"{copied_vm.name} runs on the source" in err
    assert_only_on(lab, copied_vm, src)
    retry(lab, copied_vm, src, dest)


def test_link_cut_mid_migration(lab: LabView, shared_vm: Guest, tmp_path: Path):
    src, dest = hosts_of(lab, shared_vm)
    netns = lab.host(src).netns
    with paused_migration(lab, shared_vm, src, dest, "migrate:running", "--bandwidth", "2", "--timeout", "6",
                          tmp=tmp_path) as proc:
        method = link.cut(netns)
        try:
            code, err = release(proc)
        finally:
            link.mend(netns, method)
    assert code == 14, err
    assert "did not complete within 6 s and was aborted" in err
    assert_only_on(lab, shared_vm, src)
    retry(lab, shared_vm, src, dest)


def test_completion_timeout(lab: LabView, copied_vm: Guest):
    src, dest = hosts_of(lab, copied_vm)
    run = vmctl(lab, copied_vm, src, "migrate", copied_vm.name, lab.host(dest).uri, "--copy-storage",
                "--bandwidth", "1", "--timeout", "2")
    assert run.returncode == 14 and "did not complete within 2 s" in run.stderr and "--timeout" in run.stderr
    assert_only_on(lab, copied_vm, src)
    retry(lab, copied_vm, src, dest)


@pytest.mark.parametrize("signum,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted(lab: LabView, shared_vm: Guest, tmp_path: Path, signum: int, code: int):
    src, dest = hosts_of(lab, shared_vm)
    with paused_migration(lab, shared_vm, src, dest, "migrate:running", "--bandwidth", "2", "--max-downtime", "400",
                          tmp=tmp_path) as proc:
        virsh = ["virsh", "-c", lab.local_uri(src)]
        # the options reached libvirt: the bandwidth as given, the first downtime step (a fifth of the maximum)
        assert sh(*virsh, "migrate-getspeed", shared_vm.name) == "2"
        assert sh(*virsh, "migrate-getmaxdowntime", shared_vm.name) == "80"
        os.kill(proc.pid, signum)
        status, err = release(proc)
    assert status == code, err
    assert "interrupted" in err
    assert_only_on(lab, shared_vm, src)
    retry(lab, shared_vm, src, dest)


def test_vmctl_killed_mid_transfer_is_settled_from_the_destination(lab: LabView, copied_vm: Guest,
                                                                      tmp_path: Path):
    src, dest = hosts_of(lab, copied_vm)
    with paused_migration(lab, copied_vm, src, dest, "migrate:running", "--bandwidth", "2", tmp=tmp_path) as proc:
        os.kill(proc.pid, signal.SIGKILL)
    # What vmctl left: its intent records on both hosts and the volumes it made there.
    assert f"{copied_vm.name}.intent.json" in lab.files(dest) and f"{copied_vm.name}.intent.json" in lab.files(src)
    assert lab.vm_files(dest, copied_vm.name) - {f"{copied_vm.name}.intent.json"}
    repair = vmctl(lab, copied_vm, dest, "repair", "--dry-run")
    assert repair.returncode == 0 and "would settle" in repair.stdout, repair.stdout
    repair = vmctl(lab, copied_vm, dest, "repair")  # the next vmctl run, on the destination's side
    assert repair.returncode == 0 and f"keep {copied_vm.name} on the source" in repair.stdout, repair.stdout
    assert_only_on(lab, copied_vm, src)
    retry(lab, copied_vm, src, dest)


def test_vmctl_killed_after_the_transfer_is_finished_by_the_next_run(lab: LabView, copied_vm: Guest,
                                                                         tmp_path: Path):
    src, dest = hosts_of(lab, copied_vm)
    with paused_migration(lab, copied_vm, src, dest, "migrate:transferred", tmp=tmp_path) as proc:
        os.kill(proc.pid, signal.SIGKILL)
    assert lab.where(copied_vm.name) == [dest]  # the guest runs there; the source still has its volumes
    assert lab.vm_files(src, copied_vm.name)
    run = vmctl(lab, copied_vm, src, "repair", copied_vm.name)
    assert run.returncode == 0 and f"keep {copied_vm.name} on the destination" in run.stdout, run.stdout
    assert_only_on(lab, copied_vm, dest)
    retry(lab, copied_vm, dest, src)


def test_post_copy_where_the_kernel_cannot(lab: LabView, shared_vm: Guest):
    """This machine's kernel gives QEMU no post-copy: --on-timeout postcopy fails at the
    start, clearly, and the guest stays where it was."""
    src, dest = hosts_of(lab, shared_vm)
    run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, lab.host(dest).uri, "--on-timeout", "postcopy")
    if run.returncode == 0:  # a kernel with post-copy: it simply migrated
        assert_only_on(lab, shared_vm, dest)
        return
    assert run.returncode == 13 and "Postcopy is not supported" in run.stderr, run.stderr
    assert f"{shared_vm.name} runs on the source" in run.stderr
    assert_only_on(lab, shared_vm, src)


def test_tls_needs_the_certificates(lab: LabView, shared_vm: Guest):
    """--tls really uses the lab's certificates: without the destination's key the
    migration fails (the guest stays), with it the same migration succeeds."""
    src, dest = hosts_of(lab, shared_vm)
    key = Path(lab.host(dest).root) / "pki" / "server-key.pem"
    hidden = key.with_name("server-key.pem.hidden")
    key.rename(hidden)
    try:
        run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, lab.host(dest).uri, "--tls")
        assert run.returncode == 13, run.stderr
        assert_only_on(lab, shared_vm, src)
    finally:
        hidden.rename(key)
    run = vmctl(lab, shared_vm, src, "migrate", shared_vm.name, lab.host(dest).uri, "--tls")
    assert run.returncode == 0, run.stderr
    assert_only_on(lab, shared_vm, dest)
