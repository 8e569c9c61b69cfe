"""vmctl without root: ``qemu:///session`` as a throwaway unprivileged user.

The test (root, like the rest of tests/real) makes its own user ``vmctlt-<pid>-<random>``,
runs the CLI as that user (runuser, a private 0700 XDG_RUNTIME_DIR: libvirt starts the
user's session daemon itself), and removes everything at the end: the session's domains
and pool, the user's processes (its session libvirtd and QEMU, by pid) and the user.
The tiny guest is not downloaded again: root's build cache is copied to the user, whose
``vmctl image build tiny`` then only imports it into the per-user pool.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real.conftest import MARKER, new_vm_name

REPO = Path(__file__).resolve().parents[2]
SESSION = "qemu:///session"


@dataclass
class User:
    name: str
    home: Path
    runtime: Path
    python: str
    pythonpath: str

    def env(self) -> list[str]:
        return ["env", "-i", f"HOME={self.home}", f"USER={self.name}", f"XDG_RUNTIME_DIR={self.runtime}",
                "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", f"PYTHONPATH={self.pythonpath}",
                f"VMCTL_LABELS={MARKER.environment()}"]  # the run's marker, as everywhere

    def run(self, *argv: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(["runuser", "-u", self.name, "--", *self.env(), *argv], cwd=self.home,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"{argv} exited {proc.returncode}: {proc.stdout}{proc.stderr}")
        return proc

    def vmctl(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(self.python, "-m", "vmctl", "-c", SESSION, *args, timeout=timeout, check=check)

    def virsh(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.run("virsh", "-c", SESSION, *args, timeout=60, check=check)


def _python_for(user: User) -> str:
    """An interpreter the user may execute that imports this vmctl and its dependencies
    (this one's, when the user can reach it; else the system's of the same version)."""
    candidates = [sys.executable, f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"]
    for python in candidates:
        user.python = python
        probe = user.run(python, "-c", "import libvirt, lxml, paramiko, vmctl", timeout=60, check=False)
        if probe.returncode == 0:
            return python
    pytest.fail(f"no Python the unprivileged user can run imports vmctl (tried {candidates}): "
                "make the interpreter and its site-packages world-readable")


def _kill_processes(name: str) -> None:
    """The user's processes (its session libvirtd, QEMU): all started by this test."""
    for _ in range(10):
        out = subprocess.run(["ps", "-u", name, "-o", "pid="], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["sleep", "0.5"])


@pytest.fixture
def session_user() -> Iterator[User]:
    assert os.geteuid() == 0, "the rootless test makes its own unprivileged user: run it as root"
    name = f"vmctlt-{os.getpid():x}-{os.urandom(3).hex()}"
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-c", "vmctl test user (tests/real/test_rootless.py)", name],
                   check=True, timeout=30)
    runtime = Path(tempfile.mkdtemp(prefix=f"{name}-run-"))
    try:
        shutil.chown(runtime, name, name)
        os.chmod(runtime, 0o700)
        home = Path(os.path.expanduser(f"~{name}"))
        paths = dict.fromkeys([str(REPO), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
        user = User(name, home, runtime, "", ":".join(paths))
        user.python = _python_for(user)
        _copy_tiny_cache(user)
        yield user
    finally:
        try:
            probe = subprocess.run(["runuser", "-u", name, "--", "env", f"XDG_RUNTIME_DIR={runtime}", "virsh", "-c",
                                    SESSION, "list", "--all", "--name"], capture_output=True, text=True, timeout=60)
            for dom in probe.stdout.split():
                subprocess.run(["runuser", "-u", name, "--", "env", f"XDG_RUNTIME_DIR={runtime}", "virsh", "-c",
                                SESSION, "undefine", dom, "--snapshots-metadata"], capture_output=True, timeout=60)
            for verb in ("pool-destroy", "pool-undefine"):
                subprocess.run(["runuser", "-u", name, "--", "env", f"XDG_RUNTIME_DIR={runtime}", "virsh", "-c",
                                SESSION, verb, "vmctl"], capture_output=True, timeout=60)
        finally:
            _kill_processes(name)
            subprocess.run(["userdel", "-r", name], capture_output=True, timeout=60)
            shutil.rmtree(runtime, ignore_errors=True)


def _copy_tiny_cache(user: User) -> None:
    from platformdirs import user_cache_path

    source = user_cache_path("vmctl") / "tiny"
    assert source.is_dir(), f"no tiny build cache at {source}: run `vmctl image build tiny` as root first"
    target = user.home / ".cache" / "vmctl" / "tiny"
    shutil.copytree(source, target)
    subprocess.run(["chown", "-R", f"{user.name}:{user.name}", str(user.home / ".cache")], check=True, timeout=60)


def test_session_create_exec_snapshot_delete(session_user: User) -> None:
    user = session_user
    assert user.virsh("list", "--all", "--name", check=True).stdout.split() == []  # the daemon starts
    built = user.vmctl("image", "build", "tiny", timeout=300)
    assert "tiny" in built.stdout
    pool = user.virsh("pool-dumpxml", "vmctl", check=True).stdout
    assert f"{user.home}/.local/share/vmctl/pool" in pool  # the per-user pool, not /var/lib/vmctl

    name = new_vm_name()
    created = user.vmctl("create", name, "--wait", "ssh")
    assert str(user.home) in created.stdout
    labels = user.vmctl("info", name, "--json").stdout
    assert all(value in labels for value in MARKER.labels.values())
    assert user.vmctl("exec", name, "--", "id", "-u").stdout.strip() == "0"  # root in the guest
    qemu = subprocess.run(["ps", "-u", user.name, "-o", "args="], capture_output=True, text=True).stdout
    assert "qemu-system" in qemu  # QEMU runs as the user

    user.vmctl("snapshot", "create", name, "s1")
    user.vmctl("exec", name, "--", "touch", "/root/after-s1")
    user.vmctl("snapshot", "revert", name, "s1")
    assert user.vmctl("exec", name, "--", "test", "-e", "/root/after-s1", check=False).returncode == 1

    user.vmctl("delete", name)
    assert user.virsh("list", "--all", "--name", check=True).stdout.split() == []
    left = sorted(p.name for p in (user.home / ".local/share/vmctl/pool").iterdir())
    assert [v for v in left if v.startswith(name)] == []
    assert all(v.startswith("tiny") for v in left), left  # only the image the user built
