"""More of the SSH layer on the real guest: an interactive pty session, the
user's own key and cloud-config, and a forward port taken while the VM was off."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from vmctl.cli.app import run

VMCTL = str(Path(sys.executable).parent / "vmctl")


def drive_pty(argv: list[str], react) -> tuple[bytes, int]:
    """Run ``argv`` on a new pty; ``react(output_so_far, fd)`` may type into it.
    Bounded to 60 s; returns (everything printed, exit code)."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI, on a terminal
        os.execv(argv[0], argv)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                break
            output += chunk
        react(output, fd)
    for _ in range(100):  # up to 10 s for it to exit; never hang the suite on it
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return output, os.waitstatus_to_exitcode(status)
        time.sleep(0.1)
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    return output, os.waitstatus_to_exitcode(status)


def test_interactive_ssh_has_a_pty_and_returns_the_exit_status(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    sent = []

    def react(output: bytes, fd: int) -> None:
        if not sent and b"#" in output:  # the root prompt
            os.write(fd, b"tty; echo hel''lo; exit 5\r")
            sent.append(True)

    output, status = drive_pty([VMCTL, "ssh", vm_name], react)
    assert b"hello" in output and b"/dev/pts/" in output, output[-500:]
    assert status == 5


def test_own_key_and_user_data(api, tiny, vm_name, tmp_path):
    key = tmp_path / "mykey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    extra = tmp_path / "extra"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(extra), "-C", "extra-key"], check=True)
    user_data = tmp_path / "user-data.yaml"
    user_data.write_text("#cloud-config\nssh_authorized_keys:\n  - " + (tmp_path / "extra.pub").read_text())
    vm = api.create(vm_name, wait_boot=True, wait_ssh=True, ssh_key=key, user_data=user_data)
    assert vm.ssh_key_path == str(key)
    out = bytearray()
    assert api.exec(vm_name, ["cat", "/root/.ssh/authorized_keys"], out=out.extend) == 0
    assert b"extra-key" in out and (tmp_path / "mykey.pub").read_text().split()[1].encode() in out


def test_busy_forward_port_is_moved_at_start(api, tiny, vm_name):
    vm = api.create(vm_name, start=False)
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", vm.ssh_port))
    squatter.listen(1)
    try:
        started = api.start(vm_name, wait_boot=True)
        assert started.ssh_port != vm.ssh_port and started.state == "running"
        assert run(["exec", "-n", vm_name, "--", "true"]) == 0  # the endpoint follows the new port
    finally:
        squatter.close()


def test_console_shows_guest_output_and_ctrl_bracket_leaves(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    done: list[str] = []

    def react(output: bytes, fd: int) -> None:
        if not done and b"Ctrl-]" in output:
            assert api.exec(vm_name, ["sh", "-c", "echo console-marker-42 > /dev/ttyS0"]) == 0
            done.append("wrote")
        if done == ["wrote"] and b"console-marker-42" in output:
            os.write(fd, b"\x1d")
            done.append("left")

    output, status = drive_pty([VMCTL, "console", vm_name], react)
    assert b"console-marker-42" in output and done == ["wrote", "left"], output[-300:]
    assert status == 0
