"""The SSH jump used for guests of a remote libvirt host (qemu+ssh://): the
forward's loopback port is reached through the hypervisor host's sshd."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest

from vmctl.testing.sshserver import SshTestServer, key_line, leftover_threads, write_key
from vmctl.errors import GuestError, HostKeyMismatch
from vmctl.guest.endpoint import jump_host_of
from vmctl.ssh.session import SshSession, SshTarget
from vmctl.ssh.tunnel import JumpHost, jump_socket


@pytest.fixture(scope="module", autouse=True)
def no_threads_left_behind():
    yield
    assert not leftover_threads()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("jump")
    keys = SimpleNamespace(jump=write_key(d / "jump"), guest=write_key(d / "guest"), other=write_key(d / "other"),
                           client=write_key(d / "client"), client_path=d / "client")
    with SshTestServer(keys.guest, keys.client, d) as guest, \
            SshTestServer(keys.jump, keys.client, d, allow_forwarding=True) as jump:
        known = d / "known_hosts"
        known.write_text(f"[127.0.0.1]:{jump.port} {key_line(keys.jump)}\n")
        yield SimpleNamespace(keys=keys, guest=guest, jump=jump, known=known, dir=d)


def target_via(lab, jump: JumpHost, host_key: str) -> SshTarget:
    return SshTarget(host="127.0.0.1", port=lab.guest.port, user="tester", key_path=lab.keys.client_path,
                     host_key=host_key,
                     sock_factory=functools.partial(jump_socket, jump, "127.0.0.1", lab.guest.port, 5.0))


def test_command_through_the_jump_host(lab):
    jump = JumpHost("127.0.0.1", lab.jump.port, "tester", lab.keys.client_path, lab.known)
    with SshSession(target_via(lab, jump, key_line(lab.keys.guest))) as session:
        assert session.run(["echo", "through the jump"]).stdout == b"through the jump\n"
    assert ("127.0.0.1", lab.guest.port) in lab.jump.forwards


def test_unknown_jump_host_key_is_refused(lab):
    empty = lab.dir / "empty_known_hosts"
    empty.write_text("")
    jump = JumpHost("127.0.0.1", lab.jump.port, "tester", lab.keys.client_path, empty)
    with pytest.raises(GuestError, match="jump host"):
        jump_socket(jump, "127.0.0.1", lab.guest.port, 5.0)


def test_changed_jump_host_key_is_a_mismatch(lab):
    wrong = lab.dir / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{lab.jump.port} {key_line(lab.keys.other)}\n")
    jump = JumpHost("127.0.0.1", lab.jump.port, "tester", lab.keys.client_path, wrong)
    with pytest.raises(HostKeyMismatch):
        jump_socket(jump, "127.0.0.1", lab.guest.port, 5.0)


def test_guest_key_is_still_pinned_through_the_jump(lab):
    jump = JumpHost("127.0.0.1", lab.jump.port, "tester", lab.keys.client_path, lab.known)
    with pytest.raises(HostKeyMismatch), SshSession(target_via(lab, jump, key_line(lab.keys.other))) as session:
        session.connect()


def test_jump_host_from_uri():
    jump = jump_host_of("qemu+ssh://admin@hv1.example:2222/system?keyfile=/k/id")
    assert (jump.host, jump.port, jump.user, str(jump.key_path)) == ("hv1.example", 2222, "admin", "/k/id")
    assert jump_host_of("qemu:///system") is None and jump_host_of("qemu+tls://hv1/system") is None
