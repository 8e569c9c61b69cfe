"""Feedback on long work, on the real tiny guest (issue 15, item 3): `cp`, `start --wait`
and `image import` report their stages and bytes as JSON lines with --json, as plain
lines when stderr is piped, as a live bar on a terminal (a pty here), and nothing with -q.
One VM serves the module."""

from __future__ import annotations

import hashlib
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.testing.ndjson import split

SIZE = 3 << 20
VMCTL = [sys.executable, "-m", "vmctl"]


@pytest.fixture(scope="module")
def vm(module_vm: str) -> str:
    return module_vm


@pytest.fixture
def big(tmp_path: Path) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def on_a_terminal(argv: list[str], timeout: float = 120) -> tuple[int, str]:
    """Run vmctl with stderr on a pty (stdout piped); returns (status, what the terminal got)."""
    leader, follower = os.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen([*VMCTL, *argv], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=follower,
                            env=env)
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the pty closed: every writer is gone
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        status = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return status, seen.decode(errors="replace")


def test_cp_json_lines_carry_the_bytes(vm, big, capsys, tmp_path):
    assert run(["cp", str(big), f"{vm}:/root/big.bin", "--json"]) == 0
    events, result = split(capsys.readouterr().out)
    assert result == {"vm": vm, "src": str(big), "dest": f"{vm}:/root/big.bin"}
    samples = [e for e in events if e["event"] == "progress"]
    assert samples and all(e["stage"] == f"copying {big}" and e["total"] == SIZE for e in samples)
    assert samples[-1]["done"] == SIZE and [e["done"] for e in samples] == sorted(e["done"] for e in samples)

    back = tmp_path / "back.bin"  # from the guest, piped: plain lines on stderr
    assert run(["cp", f"{vm}:/root/big.bin", str(back)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "copying /root/big.bin: 3.0 MiB of 3.0 MiB (100%)" in err.splitlines()
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()

    assert run(["-q", "cp", str(big), f"{vm}:/root/big2.bin"]) == 0
    assert capsys.readouterr() == ("", "")


def test_cp_on_a_terminal_draws_a_bar(vm, big):
    status, screen = on_a_terminal(["cp", str(big), f"{vm}:/root/big3.bin"])
    assert status == 0, screen
    assert "\x1b[" in screen and "━" in screen  # rich drew the live bar
    assert f"copying {big}: 3.0 MiB" in screen   # and a lasting line when the file was done


def test_start_wait_reports_stages(api, vm, capsys):
    api.stop(vm, force=True)
    assert run(["start", vm, "--wait", "ssh", "--json"]) == 0
    events, info = split(capsys.readouterr().out)
    stages = [e["stage"] for e in events]
    assert stages[0] == "started, waiting for the boot marker on the console"
    assert stages[1].startswith("booted in ") and any(s.startswith("authenticated") for s in stages)
    assert info["name"] == vm and info["state"] == "running"

    api.stop(vm, force=True)
    status, screen = on_a_terminal(["start", vm, "--wait", "boot"])
    assert status == 0, screen
    assert "started, waiting for the boot marker" in screen and "booted in " in screen


def test_image_import_piped_lines(api, tiny, vm_name, capsys, tmp_path):
    src = tmp_path / "disk.raw"
    src.write_bytes(os.urandom(2 << 20))
    name = f"{vm_name}-img"
    try:
        assert run(["image", "import", str(src), "--name", name, "--format", "raw"]) == 0
        err = capsys.readouterr().err.splitlines()
        assert "copying disk.raw: 2.0 MiB of 2.0 MiB (100%)" in err and "checking the copy" in err
    finally:
        if name in {i.name for i in api.list_images()}:
            api.remove_image(name)
