"""vmctl.ssh against an in-process paramiko server on 127.0.0.1 (see sshserver.py)."""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import termios
import time
from types import SimpleNamespace

import pytest

from vmctl.testing.sshserver import RawServer, SshTestServer, free_port, key_line, leftover_threads, tree_digest, write_key
from vmctl.errors import GuestError, HostKeyMismatch, InvalidInput, NotFound, Timeout, VmctlError
from vmctl.ssh.keys import fingerprint, public_line_of
from vmctl.ssh.probe import probe_banner
from vmctl.ssh.runner import CommandFailed, CommandResult, argv_command
from vmctl.ssh.session import SshSession, SshTarget

FAST = {"connect_timeout": 3.0, "banner_timeout": 3.0, "auth_timeout": 3.0}


@pytest.fixture(scope="module", autouse=True)
def no_threads_left_behind():
    """After the module, every server thread and every paramiko transport thread has ended."""
    yield
    assert not leftover_threads()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return SimpleNamespace(host=write_key(d / "host"), other_host=write_key(d / "other"),
                           client=write_key(d / "client"), client_path=d / "client",
                           stranger=write_key(d / "stranger"), stranger_path=d / "stranger")


def make_target(port: int, keys, **changes) -> SshTarget:
    fields = {"host": "127.0.0.1", "port": port, "user": "tester", "key_path": keys.client_path,
              "host_key": key_line(keys.host)}
    return SshTarget(**(fields | changes))


@pytest.fixture(scope="module")
def server(keys, tmp_path_factory):
    with SshTestServer(keys.host, keys.client, tmp_path_factory.mktemp("root")) as srv:
        yield srv


@pytest.fixture(scope="module")
def session(server, keys):
    with SshSession(make_target(server.port, keys), **FAST) as ssh:
        yield ssh


# -- commands -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [0, 3, 255])
def test_exit_status_propagates(session, status):
    result = session.run(["sh", "-c", f"exit {status}"])
    assert isinstance(result, CommandResult)
    assert result.exit_status == status
    assert result.argv == ("sh", "-c", f"exit {status}")
    assert result.duration >= 0


def test_stdout_and_stderr_stay_separate(session):
    result = session.run(["sh", "-c", "echo out; echo err >&2; echo out2"])
    assert (result.stdout, result.stderr) == (b"out\nout2\n", b"err\n")


def test_large_output_on_both_streams_does_not_deadlock(session):
    size = 3 * 1024 * 1024
    script = f"head -c {size} /dev/zero | tr '\\0' o & head -c {size} /dev/zero | tr '\\0' e >&2; wait"
    seen = {"out": 0, "err": 0}
    result = session.run(["sh", "-c", script], timeout=10,
                         on_stdout=lambda b: seen.__setitem__("out", seen["out"] + len(b)),
                         on_stderr=lambda b: seen.__setitem__("err", seen["err"] + len(b)))
    assert result.exit_status == 0
    assert result.stdout == b"o" * size and result.stderr == b"e" * size
    assert seen == {"out": size, "err": size}


def test_shell_metacharacters_arrive_literally(session, server):
    weird = [";", "a; touch pwned", "$(id)", "`id`", "'single'", '"double"', "two  spaces", "new\nline",
             "*", "$HOME", "back\\slash", "", "-n", "|&><"]
    result = session.run(["printf", "%s\\n", *weird])
    assert result.stdout == b"".join(w.encode() + b"\n" for w in weird)
    assert not (server.root / "pwned").exists()


def test_env_is_applied_literally(session):
    result = session.run(["sh", "-c", 'printf "%s|%s" "$GREETING" "$OTHER"'],
                         env={"GREETING": "hi $(id); `x` 'q'", "OTHER": "a b"})
    assert result.stdout == b"hi $(id); `x` 'q'|a b"
    args, command = argv_command(["printf", "%s"], "/tmp/.vmctl-env-x")
    assert args == ("printf", "%s") and command.startswith("sh -c ") and command.endswith("/tmp/.vmctl-env-x printf %s")


def test_env_values_never_travel_in_the_command_line(session, server):
    """The values go in a 0600 file the command's shell sources and deletes: neither the
    command string (what the guest's ps shows) nor the guest's /tmp keeps them."""
    seen: list[str] = []
    original = session._execute

    def spy(argv, command, *rest):
        seen.append(command)
        return original(argv, command, *rest)
    session._execute = spy
    result = session.run(["sh", "-c", 'printf %s "$TOKEN"; ls -a .'], env={"TOKEN": "s3cr3t-value"})
    assert result.stdout.startswith(b"s3cr3t-value") and b".vmctl-env-" not in result.stdout
    assert session.run_shell('printf %s "$TOKEN"', env={"TOKEN": "s3cr3t-value"}).stdout == b"s3cr3t-value"
    assert seen and all("s3cr3t" not in command for command in seen)


@pytest.mark.parametrize("name", ["1X", "A-B", "A B", "", "X=Y", "ä"])
def test_env_name_is_validated(session, name):
    with pytest.raises(InvalidInput):
        session.run(["true"], env={name: "v"})


def test_a_string_is_not_an_argv(session):
    with pytest.raises(InvalidInput, match="list of arguments"):
        session.run("echo hi")  # type: ignore[arg-type]


def test_stdin_is_passed_through_then_closed(session):
    assert session.run(["cat"], stdin=b"hello\nworld").stdout == b"hello\nworld"
    assert session.run(["cat"], timeout=5).stdout == b""  # no stdin: the command sees EOF at once
    payload = os.urandom(2 * 1024 * 1024)
    result = session.run(["sha256sum"], stdin=io.BytesIO(payload), timeout=10)
    assert result.stdout.split()[0].decode() == hashlib.sha256(payload).hexdigest()


def test_a_stdin_pipe_that_stays_open_never_holds_up_the_command(session):
    read_end, write_end = os.pipe()
    stdin = os.fdopen(read_end, "rb")
    try:
        started = time.monotonic()
        result = session.run(["echo", "done"], stdin=stdin, timeout=20)
        assert result.exit_status == 0 and result.stdout == b"done\n"
        assert time.monotonic() - started < 15  # (not the deadline: the command's own end)
    finally:
        os.close(write_end)
        stdin.close()


def test_stdin_is_streamed_as_it_comes(session):
    """`head -n1` ends after the first line while the writer still holds the pipe open:
    the line reached the guest before any EOF did."""
    read_end, write_end = os.pipe()
    stdin = os.fdopen(read_end, "rb")
    try:
        os.write(write_end, b"first line\n")
        result = session.run(["head", "-n1"], stdin=stdin, timeout=20)
        assert result.exit_status == 0 and result.stdout == b"first line\n"
    finally:
        os.close(write_end)
        stdin.close()


def test_run_shell_runs_shell_code(session):
    result = session.run_shell("x=2; echo $((x + 1)) | sed s/3/three/", env={"V": "a'b"})
    assert result.stdout == b"three\n"
    assert session.run_shell('printf %s "$V"', env={"V": "a'b"}).stdout == b"a'b"


def test_timeout_closes_the_channel_and_the_session_stays_usable(session):
    started = time.monotonic()
    with pytest.raises(Timeout) as info:
        session.run(["sh", "-c", "echo partial; sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 3
    assert "sh -c 'echo partial; sleep 30'" in info.value.message and "channel closed" in info.value.message
    assert "partial" in info.value.hint
    assert session.run(["echo", "still"]).stdout == b"still\n"


def test_check_raises_command_failed_with_command_status_and_tail(session):
    with pytest.raises(CommandFailed) as info:
        session.run(["sh", "-c", "echo visible-tail; exit 7"], env={"TOKEN": "s3cr3t-value"}, check=True)
    error = info.value
    assert isinstance(error, GuestError)
    assert "sh -c 'echo visible-tail; exit 7'" in error.message and "status 7" in error.message
    assert "visible-tail" in error.hint
    assert error.result.exit_status == 7
    assert "s3cr3t-value" not in error.message + error.hint


def test_no_exit_status_is_an_error(session):
    with pytest.raises(CommandFailed, match="without an exit status") as info:
        session.run_shell("kill -9 $$", timeout=5)
    assert info.value.result.exit_status == -1


def test_tail_keeps_the_last_lines():
    result = CommandResult(("x",), 1, b"".join(b"%d\n" % i for i in range(50)), b"boom\n", 0.1)
    assert result.tail(3) == "48\n49\nboom"
    assert CommandResult(("x",), 0, b"\xff\n", b"", 0).tail() == "\ufffd"


# -- connecting: stages, host keys, reuse ----------------------------------------------------------

def test_one_transport_serves_many_calls(keys, tmp_path):
    with SshTestServer(keys.host, keys.client, tmp_path) as srv:
        with SshSession(make_target(srv.port, keys), **FAST) as ssh:
            for i in range(20):
                assert ssh.run(["echo", str(i)]).stdout == f"{i}\n".encode()
            ssh.put(keys.client_path.with_name("host"), "copied")
        assert srv.accepted == 1


def test_connection_refused_names_the_stage(keys):
    with pytest.raises(GuestError, match=r"connection refused \(stage: port open\)"):
        SshSession(make_target(free_port(), keys), **FAST).run(["true"])


def test_tcp_connect_timeout_is_a_timeout(keys):
    def stalled() -> socket.socket:
        raise TimeoutError("timed out")
    with pytest.raises(Timeout, match=r"stage: port open"):
        SshSession(make_target(1, keys, sock_factory=stalled), **FAST).connect()


def test_banner_stall_times_out_within_the_banner_timeout(keys):
    with RawServer() as silent:
        ssh = SshSession(make_target(silent.port, keys), connect_timeout=3, banner_timeout=0.5, auth_timeout=3)
        started = time.monotonic()
        with pytest.raises(Timeout, match=r"stage: SSH banner"):
            ssh.connect()
        assert time.monotonic() - started < 3


def test_hang_up_before_banner_is_a_guest_error(keys):
    with RawServer(close=True) as closer:
        with pytest.raises(GuestError, match=r"closed before the SSH banner \(stage: SSH banner\)"):
            SshSession(make_target(closer.port, keys), **FAST).connect()


def test_auth_failure_names_key_and_user(server, keys):
    target = make_target(server.port, keys, key_path=keys.stranger_path)
    with pytest.raises(GuestError, match=r"stage: authenticated") as info:
        SshSession(target, **FAST).connect()
    assert str(keys.stranger_path) in info.value.hint and "'tester'" in info.value.hint


def test_server_refusing_all_auth(keys, tmp_path):
    with SshTestServer(keys.host, keys.client, tmp_path, refuse_auth=True) as srv:
        with pytest.raises(GuestError, match=r"authentication failed \(stage: authenticated\)"):
            SshSession(make_target(srv.port, keys), **FAST).connect()


def test_host_key_mismatch_shows_both_fingerprints(server, keys):
    target = make_target(server.port, keys, host_key=key_line(keys.other_host), insecure=True)
    with pytest.raises(HostKeyMismatch, match="host key mismatch") as info:
        SshSession(target, **FAST).connect()
    assert keys.other_host.fingerprint in info.value.message and keys.host.fingerprint in info.value.message
    assert "changed" in info.value.hint


def test_host_key_of_another_type_is_a_mismatch(keys, tmp_path):
    rsa_host = write_key(tmp_path / "rsa_host", "rsa")
    with SshTestServer(rsa_host, keys.client, tmp_path) as srv:
        with pytest.raises(GuestError, match="host key mismatch") as info:
            SshSession(make_target(srv.port, keys), **FAST).connect()
        assert rsa_host.fingerprint in info.value.message and keys.host.fingerprint in info.value.message
        with SshSession(make_target(srv.port, keys, host_key=key_line(rsa_host)), **FAST) as ssh:
            assert ssh.run(["true"]).exit_status == 0  # an RSA pin works (rsa-sha2 signatures)


def test_unpinned_key_is_refused_unless_insecure(server, keys, caplog):
    with pytest.raises(GuestError, match="no pinned host key") as info:
        SshSession(make_target(server.port, keys, host_key=None), **FAST).connect()
    assert "--insecure" in info.value.hint
    with SshSession(make_target(server.port, keys, host_key=None, insecure=True), **FAST) as ssh:
        assert ssh.run(["true"]).exit_status == 0
    warning = [r for r in caplog.records if r.name == "vmctl.ssh" and r.levelname == "WARNING"]
    assert len(warning) == 1 and keys.host.fingerprint in warning[0].getMessage()


def test_sock_factory_supplies_the_connection(server, keys):
    made = []

    def factory() -> socket.socket:
        made.append(socket.create_connection(("127.0.0.1", server.port), timeout=3))
        return made[-1]
    with SshSession(make_target(12345, keys, sock_factory=factory), **FAST) as ssh:
        assert ssh.run(["echo", "via factory"]).stdout == b"via factory\n"
    assert len(made) == 1


def test_dead_connection_is_reopened_or_reported(keys, tmp_path):
    srv = SshTestServer(keys.host, keys.client, tmp_path).__enter__()
    ssh = SshSession(make_target(srv.port, keys), **FAST)
    try:
        assert ssh.run(["true"]).exit_status == 0
    finally:
        srv.stop()
    with pytest.raises(GuestError, match="stage: port open"):
        ssh.run(["true"])
    ssh.close()


def test_bad_inputs_are_vmctl_errors(server, keys, tmp_path):
    with pytest.raises(InvalidInput, match="pinned host key"):
        SshSession(make_target(server.port, keys, host_key="ssh-ed25519 not-base64!")).connect()
    with pytest.raises(NotFound, match="does not exist"):
        SshSession(make_target(server.port, keys, key_path=tmp_path / "missing")).connect()
    (tmp_path / "junk").write_text("not a key")
    with pytest.raises(InvalidInput, match="not a private key"):
        SshSession(make_target(server.port, keys, key_path=tmp_path / "junk")).connect()


# -- banner, keys ---------------------------------------------------------------------------------

def test_probe_banner(server):
    assert probe_banner("127.0.0.1", server.port, 3).startswith("SSH-2.0-")


def test_probe_banner_failures():
    with pytest.raises(GuestError, match="stage: port open"):
        probe_banner("127.0.0.1", free_port(), 1)
    with RawServer() as silent:
        started = time.monotonic()
        with pytest.raises(Timeout, match="stage: SSH banner"):
            probe_banner("127.0.0.1", silent.port, 0.3)
        assert time.monotonic() - started < 2
    with RawServer(close=True) as closer, pytest.raises(GuestError, match="stage: SSH banner"):
        probe_banner("127.0.0.1", closer.port, 2)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_public_key_line_matches_ssh_keygen(tmp_path, kind):
    key = write_key(tmp_path / "id", kind)
    line = public_line_of(tmp_path / "id")
    assert line == key_line(key)
    keygen = subprocess.run(["ssh-keygen", "-y", "-f", str(tmp_path / "id")], capture_output=True, text=True)
    if keygen.returncode == 0:
        assert keygen.stdout.split()[:2] == line.split()
    assert fingerprint(line) == key.fingerprint


# -- SFTP -------------------------------------------------------------------------------------------

def test_recursive_put_get_round_trip_keeps_modes(session, server, tmp_path):
    src = tmp_path / "src"
    (src / "nested" / "deeper").mkdir(parents=True)
    (src / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (src / "run.sh").chmod(0o755)
    (src / "secret").write_bytes(os.urandom(300_000))
    (src / "secret").chmod(0o600)
    (src / "nested" / "deeper" / "data.bin").write_bytes(os.urandom(70_000))
    (src / "nested").chmod(0o750)
    session.put(src, "deploy/tree", recursive=True)
    assert tree_digest(server.root / "deploy" / "tree") == tree_digest(src)
    assert session.run(["sh", "deploy/tree/run.sh"]).stdout == b"hi\n"
    back = tmp_path / "back" / "tree"
    session.get("deploy/tree", back, recursive=True)
    assert tree_digest(back) == tree_digest(src)


def test_single_file_put_and_get(session, server, tmp_path):
    (tmp_path / "one").write_bytes(b"1")
    (tmp_path / "one").chmod(0o640)
    session.put(tmp_path / "one", "one-copy")
    assert stat.S_IMODE((server.root / "one-copy").stat().st_mode) == 0o640
    session.get("one-copy", tmp_path / "fetched")
    assert (tmp_path / "fetched").read_bytes() == b"1"
    assert stat.S_IMODE((tmp_path / "fetched").stat().st_mode) == 0o640
    (server.root / "inbox").mkdir()  # a single file copied onto an existing directory lands inside
    session.put(tmp_path / "one", "inbox")
    (tmp_path / "outbox").mkdir()
    session.get("inbox/one", tmp_path / "outbox")
    assert (tmp_path / "outbox" / "one").read_bytes() == b"1"


def test_get_missing_is_not_found(session, tmp_path):
    with pytest.raises(NotFound, match="does not exist"):
        session.get("no/such/file", tmp_path / "x")


def test_put_into_missing_directory(session, server, tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    with pytest.raises(NotFound) as info:
        session.put(tmp_path / "f", "missing-dir/f")
    assert "recursive" in info.value.hint
    session.put(tmp_path / "f", "made/on/demand/f", recursive=True)
    assert (server.root / "made" / "on" / "demand" / "f").read_bytes() == b"data"


def test_directories_need_recursive(session, server, tmp_path):
    with pytest.raises(InvalidInput, match="is a directory") as info:
        session.put(tmp_path, "somewhere")
    assert "recursive=True" in info.value.hint
    (server.root / "a-dir").mkdir()
    with pytest.raises(InvalidInput, match="is a directory") as info:
        session.get("a-dir", tmp_path / "a-dir")
    assert "recursive=True" in info.value.hint


def test_get_does_not_write_through_a_local_symlink(session, server, tmp_path):
    (server.root / "payload").write_bytes(b"evil")
    victim = tmp_path / "victim"
    victim.write_bytes(b"safe")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(VmctlError, match="symlink"):
        session.get("payload", tmp_path / "link")
    assert victim.read_bytes() == b"safe"


# -- interactive ------------------------------------------------------------------------------------

def test_interactive_bridges_stdin_and_stdout(session, server, monkeypatch):
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(in_w, b"echo from-shell\nexit 5\n")
    os.close(in_w)
    monkeypatch.setattr(sys, "stdin", os.fdopen(in_r, "rb"))
    monkeypatch.setattr(sys, "stdout", os.fdopen(out_w, "wb"))
    monkeypatch.setenv("TERM", "xterm-test")
    try:
        assert session.interactive() == 5
        assert session.interactive(["sh", "-c", "echo argv-mode; exit 4"]) == 4
    finally:
        sys.stdout.close()
        sys.stdin.close()
    output = os.read(out_r, 65536)
    os.close(out_r)
    assert b"from-shell" in output and b"argv-mode" in output
    assert server.ptys[-1] == ("xterm-test", 80, 24)


def test_interactive_on_a_tty_uses_its_size_and_restores_it(session, server, monkeypatch):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    before = termios.tcgetattr(slave)
    monkeypatch.setattr(sys, "stdin", os.fdopen(slave, "rb", closefd=False))
    monkeypatch.setattr(sys, "stdout", os.fdopen(slave, "wb", closefd=False))
    try:
        assert session.interactive(["sh", "-c", "echo on-tty; exit 3"]) == 3
        assert termios.tcgetattr(slave) == before
        assert server.ptys[-1][1:] == (100, 30)
        assert select.select([master], [], [], 2)[0] and b"on-tty" in os.read(master, 4096)
    finally:
        os.close(master)
        os.close(slave)
