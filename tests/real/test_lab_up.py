"""`vmctl lab up|status|down`: N libvirt hosts on this machine, reached only over SSH.

The lab directory is a fresh one per test (VMCTL_LAB_DIR), never a person's
/var/lib/vmctl-lab. Traffic goes only to the lab's own namespaces."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.cli.app import run as cli
from vmctl.testing.lab.cluster import Lab
from vmctl.testing.lab.testlab import PREFIX, mounts_mentioning

REPO = Path(__file__).resolve().parents[2]


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def lab_processes(root: Path) -> str:
    found = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, timeout=10)
    return found.stdout


@pytest.fixture
def lab_dir(monkeypatch) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir="/var/lib"))
    monkeypatch.setenv("VMCTL_LAB_DIR", str(root))
    yield root
    Lab(root).down()  # whatever a failed test left


def assert_nothing_left(root: Path, netns: list[str], link_subnet: str) -> None:
    assert not root.exists()
    listed = sh("ip", "netns", "list")
    assert not [ns for ns in netns if ns in listed]
    assert lab_processes(root) == ""
    assert mounts_mentioning(str(root)) == []
    assert link_subnet not in sh("ip", "route", "show", "table", "all")


def test_lab_up_status_down(api: Vmctl, lab_dir: Path, capsys):
    assert cli(["lab", "up", "--hosts", "2"]) == 0
    out, err = capsys.readouterr()
    uris = [line.split("  ", 1)[1] for line in out.splitlines()]
    assert [line.split()[0] for line in out.splitlines()] == ["lab1", "lab2"]
    assert all(u.startswith("qemu+ssh://root@10.99.") for u in uris) and "2 host(s)" in err

    assert cli(["lab", "up", "--hosts", "2"]) == 0  # idempotent: the same lab, nothing made
    out, err = capsys.readouterr()
    assert "already up" in err and [line.split("  ", 1)[1] for line in out.splitlines()] == uris
    assert cli(["lab", "up", "--hosts", "3"]) == 5  # another size: refused, the lab stays
    assert "lab down" in capsys.readouterr().err

    assert cli(["lab", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    hosts = status["hosts"]
    assert status["up"] and [h["uri"] for h in hosts] == uris
    assert all(h["libvirtd"] and h["sshd"] for h in hosts)
    assert len({h["host_uuid"] for h in hosts}) == 2 and len({h["netns"] for h in hosts}) == 2
    link_subnet = hosts[0]["link_address"].rsplit(".", 1)[0] + ".0/24"
    assert (lab_dir.stat().st_mode & 0o777, (lab_dir / "lab.json").stat().st_mode & 0o777) == (0o711, 0o600)
    assert (lab_dir / "state").stat().st_mode & 0o777 == 0o700

    for host, uri in zip(hosts, uris):
        with Vmctl(uri) as v:  # over the host's sshd, host key pinned in the lab's known_hosts
            assert v.host_info().hostname == host["name"]
            caps = v.host.conn.getCapabilities()
            assert f"<uuid>{host['host_uuid']}</uuid>" in caps
            assert {p.name() for p in v.host.conn.listAllStoragePools()} == {"vmctl", "shared"}
        # the only listener in the host is its sshd, on its address: no libvirt port at all
        assert sh("ip", "netns", "exec", host["netns"], "ss", "-ltnH").split()[3::5] == [f"{host['address']}:22"]
        for port in (16509, 16514):  # nothing answers from the root namespace either
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host["address"], port), timeout=5).close()
        # the other host is on the private link; the root namespace cannot send there
        other = hosts[1] if host is hosts[0] else hosts[0]
        assert "dev link0" in sh("ip", "-n", host["netns"], "route", "get", other["link_address"])
    assert subprocess.run(["ip", "route", "get", hosts[0]["link_address"]], capture_output=True,
                          timeout=10).returncode != 0

    assert cli(["lab", "down"]) == 0
    assert "removed host" in capsys.readouterr().out
    assert_nothing_left(lab_dir, [h["netns"] for h in hosts], link_subnet)
    assert cli(["lab", "down"]) == 0  # idempotent too
    assert "nothing to do" in capsys.readouterr().out


def test_lab_down_after_a_killed_lab_up(api: Vmctl, lab_dir: Path, capsys):
    """`lab up` SIGKILLed after its first host started: `lab status` says so, `lab up`
    makes the lab afresh, and `lab down` leaves nothing."""
    pause = lab_dir.parent / f"{lab_dir.name}.pause"
    env = {**os.environ, "VMCTL_TEST_PAUSE_AT": "lab-up:host-started", "VMCTL_TEST_PAUSE_FILE": str(pause),
           "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "vmctl", "lab", "up"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not pause.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pause.exists(), "lab up never reached its pause point"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        pause.unlink(missing_ok=True)
    state = json.loads((lab_dir / "lab.json").read_text())
    netns = [h["netns"] for h in state["hosts"]] + [state["link"]["netns"]]
    assert netns[0] in sh("ip", "netns", "list") and lab_processes(lab_dir)

    assert cli(["lab", "status"]) == 0
    assert "not fully up" in capsys.readouterr().err
    assert cli(["lab", "up"]) == 0  # a half-made lab is taken down and made again
    again = json.loads((lab_dir / "lab.json").read_text())
    assert again["complete"] and again["id"] != state["id"]
    assert not [ns for ns in netns if ns in sh("ip", "netns", "list")]
    capsys.readouterr()

    assert cli(["lab", "down"]) == 0
    link_subnet = f"10.97.{again['link']['index']}.0/24"
    assert_nothing_left(lab_dir, netns + [h["netns"] for h in again["hosts"]], link_subnet)
