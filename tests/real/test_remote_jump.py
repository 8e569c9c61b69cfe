"""Endpoint path "ssh jump", end to end: a guest of a REMOTE libvirt host.

A lab host with its own OpenSSH sshd plays the remote hypervisor host. vmctl
connects with ``qemu+ssh://root@10.99.N.2/system``: libvirt runs the system
``ssh`` (through a wrapper that trusts only the test's known_hosts file, strictly)
and, on the lab side, ``virt-ssh-helper`` reaches the lab's libvirtd. The guest
has the default user-mode NIC, so its SSH is a port forward on 127.0.0.1 *inside
the lab's network namespace*: from here only an SSH jump through the lab's sshd
reaches it (paramiko direct-tcpip, host key checked against the URI's
``known_hosts`` file). Traffic goes only to the lab address inside the namespace
this test made; nothing is read from or written to ~/.ssh.
"""

from __future__ import annotations

import json

import gc
import os
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.cli.app import run as cli
from vmctl.errors import GuestError, HostError, OperationFailed
from vmctl.guest.endpoint import jump_host_of
from vmctl.testing.lab import LabHost
from vmctl.testing.lab.sshd import write_ssh_command
from vmctl.virt import domains

SSH_DIR = Path.home() / ".ssh"


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def ssh_dir_state() -> list[tuple[str, int, float]] | None:
    """~/.ssh as it is (names, sizes, mtimes); None when it does not exist."""
    if not SSH_DIR.exists():
        return None
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime) for p in SSH_DIR.iterdir())


def child_ssh_clients() -> list[str]:
    """ssh clients started by this process (libvirt's transport) that are still running."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                state, ppid = stat.rpartition(")")[2].split()[:2]
                if ppid == str(os.getpid()) and "(ssh)" in stat and state != "Z":
                    out.append(stat + (entry / "cmdline").read_text().replace("\0", " "))
            except OSError:
                pass
    return out


def root_state(api: Vmctl, marker: str) -> tuple[list[str], list[str]]:
    """Root-host domains and files in the root pool's directory whose name carries ``marker``
    (read directly: a pool refresh fails while other tests upload into the root pool)."""
    return ([r.name for r in domains.list_all(api.host) if marker in r.name],
            [f.name for f in Path(api.pool.path).iterdir() if marker in f.name])


def assert_lab_gone(lab: LabHost, root: Path) -> None:
    assert lab.netns not in sh("ip", "netns", "list")
    assert not root.exists()
    pgrep = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, timeout=10)
    assert pgrep.returncode == 1, pgrep.stdout  # no sshd, daemon or QEMU of the lab is left
    assert not Path("/run/sshd").exists()  # sshd's privilege separation dir existed only inside the lab
    assert child_ssh_clients() == []


def test_jump_host_of_reads_keyfile_and_known_hosts():
    jump = jump_host_of("qemu+ssh://root@10.99.7.2/system?keyfile=/k/id&known_hosts=/k/known%20hosts&no_tty=1"
                        "&command=/k/ssh")
    assert (jump.host, jump.port, jump.user) == ("10.99.7.2", 22, "root")
    assert jump.key_path == Path("/k/id") and jump.known_hosts == Path("/k/known hosts")
    assert jump_host_of("qemu+ssh://hv1/system").known_hosts is None  # ~/.ssh/known_hosts then


def test_lab_sshd_serves_libvirt_and_host_keys_are_checked_strictly(api: Vmctl, tmp_path: Path):
    """libvirt's ssh transport (system ssh + wrapper) accepts the lab's key only from
    the test's file: an empty file or a wrong key fails the connection, nothing is learned."""
    ssh_before = ssh_dir_state()
    lab = LabHost(sshd=True)
    with lab:
        root = lab.root
        listening = sh("ip", "netns", "exec", lab.netns, "ss", "-ltnp")
        assert f"{lab.address}:22 " in listening and "sshd" in listening
        assert "0.0.0.0:22 " not in listening
        # sshd: the lab's network namespace; a mount namespace nested in the lab's, whose /run
        # is a tmpfs holding /run/sshd and the lab's run/ at /run/libvirt.
        sshd_pid = int((root / "ssh" / "sshd.pid").read_text())
        libvirtd_pid = int((root / "libvirtd.pid").read_text())
        ns = {n: {p: os.stat(f"/proc/{p}/ns/{n}").st_ino for p in (sshd_pid, libvirtd_pid)} for n in ("net", "mnt")}
        assert ns["net"][sshd_pid] == ns["net"][libvirtd_pid] == (Path("/run/netns") / lab.netns).stat().st_ino
        assert ns["mnt"][sshd_pid] != ns["mnt"][libvirtd_pid] != os.stat("/proc/self/ns/mnt").st_ino
        mounts = [ln.split() for ln in Path(f"/proc/{sshd_pid}/mountinfo").read_text().splitlines()]
        assert any(m[4] == "/run" and "tmpfs" in m[m.index("-") + 1] for m in mounts)
        assert any(m[4] == "/run/libvirt" and m[3].endswith(f"{root.name}/run") for m in mounts)
        assert str(root) not in Path("/proc/self/mountinfo").read_text()  # none of it in the root namespace
        config = (root / "ssh" / "sshd_config").read_text()
        for line in (f"ListenAddress {lab.address}:22", "PermitRootLogin prohibit-password", "UsePAM no",
                     f"AuthorizedKeysFile {root}/ssh/authorized_keys", f"PidFile {root}/ssh/sshd.pid"):
            assert line in config.splitlines()

        good, empty, wrong = tmp_path / "known_hosts", tmp_path / "empty_known_hosts", tmp_path / "wrong_known_hosts"
        good.write_text(lab.ssh_known_hosts_line + "\n")
        empty.write_text("")
        other = tmp_path / "other_key"
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other))
        wrong.write_text(f"{lab.address} {' '.join(Path(f'{other}.pub').read_text().split()[:2])}\n")

        t = time.monotonic()
        with Vmctl(lab.ssh_uri(good, write_ssh_command(tmp_path / "ssh-good", good))) as v:
            assert v.host_info().hostname == lab.hostname  # the lab's libvirtd, not the root host's
        connect_seconds = time.monotonic() - t

        for name, known, why in (("empty", empty, "Host key verification failed"),
                                 ("wrong", wrong, "Host key verification failed")):
            uri = lab.ssh_uri(known, write_ssh_command(tmp_path / f"ssh-{name}", known))
            with pytest.raises(HostError, match=why):
                Vmctl(uri).host_info()
        assert empty.read_text() == ""  # StrictHostKeyChecking=yes: nothing was added
        assert child_ssh_clients() == []
    print(f"lab start {lab.timings['start']:.2f} s (sshd {lab.timings['start.sshd']:.2f} s), "
          f"qemu+ssh connect {connect_seconds:.2f} s, lab stop {lab.timings['stop']:.2f} s")
    assert_lab_gone(lab, root)
    assert ssh_dir_state() == ssh_before


def test_a_lab_whose_sshd_fails_to_start_leaves_nothing(api: Vmctl, monkeypatch):
    """sshd refuses its config: start() names sshd's complaint and removes everything."""
    from vmctl.testing.lab import sshd

    monkeypatch.setattr(sshd, "sshd_config", lambda layout, address: "NoSuchSshdOption yes\n")
    lab = LabHost(sshd=True)
    with pytest.raises(OperationFailed, match="NoSuchSshdOption"):
        lab.start()
    assert lab.layout is not None
    assert_lab_gone(lab, lab.layout.root)


def test_cleanup_stops_the_sshd_of_a_lab_whose_owner_was_killed(api: Vmctl, tmp_path: Path):
    import sys

    from vmctl.testing.lab import daemons
    from vmctl.testing.lab.__main__ import cleanup

    base = tmp_path / "labs"
    base.mkdir()
    owner = subprocess.run(
        [sys.executable, "-c", "import os, sys\nfrom pathlib import Path\nfrom vmctl.testing.lab import LabHost\n"
         "lab = LabHost(base_dir=Path(sys.argv[1]), sshd=True).start()\nprint(lab.root, flush=True)\n"
         "os._exit(0)", str(base)], capture_output=True, text=True, timeout=60, check=True)
    root = Path(owner.stdout.strip())
    lab = LabHost.adopt(root)
    sshd_pid = int((root / "ssh" / "sshd.pid").read_text())
    assert Path(f"/proc/{sshd_pid}/comm").read_text().strip() == "sshd"
    try:
        assert cleanup(base) == 0
    finally:
        cleanup(base)
    assert not daemons.alive(sshd_pid)  # gone, or a zombie of the machine's init
    assert_lab_gone(lab, root)


def remote_guest_session(lab: LabHost, tmp_path: Path, name: str, jumps: list, forward: dict,
                         timings: dict, monkeypatch, capsys) -> None:
    """Everything done through qemu+ssh; returns with every vmctl object gone."""
    known, empty = tmp_path / "known_hosts", tmp_path / "empty_known_hosts"
    known.write_text(lab.ssh_known_hosts_line + "\n")
    empty.write_text("")
    command = write_ssh_command(tmp_path / "ssh", known)
    uri = lab.ssh_uri(known, command)
    assert uri.startswith(f"qemu+ssh://root@{lab.address}/system?")
    with Vmctl(uri, pool="vmctl", pool_path=str(lab.pool_dir)) as v:
        assert not v.host.is_local and v.host_info().hostname == lab.hostname
        t = time.monotonic()
        image, _ = v.build_tiny()  # cached build, uploaded into the lab pool over the ssh transport
        timings["tiny import over qemu+ssh"] = time.monotonic() - t
        assert image.path.startswith(str(lab.pool_dir))

        t = time.monotonic()
        vm = v.create(name, wait_boot=True, wait_ssh=True)  # default user-mode NIC: a 127.0.0.1 forward
        timings["create + boot + ssh"] = time.monotonic() - t
        timings["ssh ready after boot"] = vm.ssh_ready_seconds or 0.0
        forward["port"] = vm.ssh_port
        assert vm.ssh_port and vm.state == "running"
        inside = sh("ip", "netns", "exec", lab.netns, "ss", "-ltnp")
        assert f"127.0.0.1:{vm.ssh_port} " in inside and "qemu" in inside  # the forward is in the lab

        guest = v.guest()
        endpoint = guest.endpoint(name)
        assert endpoint is not None and endpoint.via == f"ssh jump via {lab.address}"
        assert (endpoint.host, endpoint.port) == ("127.0.0.1", vm.ssh_port)
        jump = endpoint.sock_factory.args[0]
        assert (jump.host, jump.port, jump.user) == (lab.address, 22, "root")
        assert jump.key_path == lab.ssh_client_key and jump.known_hosts == known

        out: list[bytes] = []
        before = len(jumps)
        t = time.monotonic()
        assert v.exec(name, ["hostname"], out=out.append) == 0
        timings["exec hostname"] = time.monotonic() - t
        assert b"".join(out).decode().strip() == name
        assert jumps[before:] == [(lab.address, "127.0.0.1", vm.ssh_port)]

        payload = secrets.token_bytes(64 * 1024)
        src, back = tmp_path / "payload.bin", tmp_path / "payload.back"
        src.write_bytes(payload)
        t = time.monotonic()
        v.copy(str(src), f"{name}:/tmp/payload.bin")
        v.copy(f"{name}:/tmp/payload.bin", str(back))
        timings["copy 64 KiB in and back"] = time.monotonic() - t
        assert back.read_bytes() == payload
        assert len(jumps) == before + 3

        # The jump host's key must be known: libvirt's own connection is fine (its ssh
        # trusts `known`), but the jump reads the URI's known_hosts, here empty.
        bad_uri = lab.ssh_uri(empty, command)
        with Vmctl(bad_uri, pool="vmctl", pool_path=str(lab.pool_dir)) as bad:
            with pytest.raises(GuestError, match=rf"jump host root@{lab.address}:22: .*stage: jump host"):
                bad.exec(name, ["hostname"])
        monkeypatch.setenv("VMCTL_POOL_PATH", str(lab.pool_dir))
        capsys.readouterr()
        assert cli(["-c", bad_uri, "exec", "-n", name, "--", "hostname"]) == 255  # exec: vmctl failed
        err = capsys.readouterr().err
        assert f"jump host root@{lab.address}:22" in err and "hint:" in err, err
        assert cli(["-c", bad_uri, "exec", "--json", "-n", name, "--", "hostname"]) == 255
        assert json.loads(capsys.readouterr().out)["error"]["vmctl_exit_code"] == 11
        assert empty.read_text() == ""
        # The CLI with the right known_hosts reaches the guest.
        status = cli(["-c", uri, "exec", "-n", name, "--", "hostname"])
        captured = capsys.readouterr()
        assert status == 0, captured.err
        assert captured.out.strip() == name

        t = time.monotonic()
        v.delete(name)
        timings["delete"] = time.monotonic() - t
        assert not domains.exists(v.host, name)
        assert not any(name in vol.name for vol in v.pool.volumes())


def test_guest_of_a_remote_host_reached_through_an_ssh_jump(api: Vmctl, tmp_path: Path, monkeypatch, capsys):
    import vmctl.ssh.session

    name = f"jump-{secrets.token_hex(3)}"
    ssh_before = ssh_dir_state()
    plain = socket.create_connection
    forward: dict[str, int] = {}

    def no_direct_forward(address, *args, **kwargs):  # the guest's forward is never dialled from here
        assert tuple(address) != ("127.0.0.1", forward.get("port")), "plain TCP to the lab's loopback forward"
        return plain(address, *args, **kwargs)

    jumps: list[tuple[str, str, int]] = []
    real_jump = vmctl.ssh.tunnel.jump_socket

    def counting_jump(jump, dest_host, dest_port, timeout=10.0):
        jumps.append((jump.host, dest_host, dest_port))
        return real_jump(jump, dest_host, dest_port, timeout)

    monkeypatch.setattr(socket, "create_connection", no_direct_forward)
    monkeypatch.setattr(vmctl.ssh.tunnel, "jump_socket", counting_jump)
    monkeypatch.delenv("VMCTL_NETNS", raising=False)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    lab = LabHost(sshd=True)
    with lab:
        root = lab.root
        timings["lab start"] = lab.timings["start"]
        remote_guest_session(lab, tmp_path, name, jumps, forward, timings, monkeypatch, capsys)
        # Vmctl.close() closes its Host, but libvirt objects it caches (its Pool) keep the
        # remote connection, and so libvirt's ssh process, until they are collected.
        deadline = time.monotonic() + 10
        while child_ssh_clients() and time.monotonic() < deadline:
            gc.collect()  # a traceback kept by pytest.raises can hold the last libvirt object a while
            time.sleep(0.1)
        assert [s for s in lab.layout.sshd_log.read_text().splitlines() if "Accepted publickey" in s]
    timings["lab stop"] = lab.timings["stop"]
    deadline = time.monotonic() + 10
    while child_ssh_clients() and time.monotonic() < deadline:  # at the latest, the lab's sshd going ends them
        gc.collect()
        time.sleep(0.1)
    assert child_ssh_clients() == []  # every qemu+ssh client process ended and was reaped
    timings["whole test"] = time.monotonic() - t0
    print("timings:", {k: round(s, 2) for k, s in timings.items()})

    assert_lab_gone(lab, root)
    assert root_state(api, name) == ([], [])
    assert ssh_dir_state() == ssh_before
