import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.sshconfig import GuestEntry, JumpEntry, known_hosts_lines, render_config

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILJ1wVB1RahgzDkFpnrLzqKBG3U74lXQINWZitM2ABr/"


def entry(name="web1", **kw):
    values = dict(hostname="127.0.0.1", port=2222, user="root", identity_file="/k/id", host_key=KEY)
    values.update(kw)
    return GuestEntry(name, **values)


def test_a_guest_block_pins_its_key_by_alias():
    text = render_config([entry()], "/d/known_hosts")
    block = text.split("Host web1\n", 1)[1]
    for line in ("HostName 127.0.0.1", "Port 2222", "User root", "IdentityFile /k/id", "IdentitiesOnly yes",
                 "HostKeyAlias vmctl-web1", "UserKnownHostsFile /d/known_hosts", "StrictHostKeyChecking yes"):
        assert f"    {line}\n" in block
    assert "ProxyJump" not in block


def test_remote_guests_jump_through_their_host_once():
    jump = JumpEntry("vmctl-jump-hv2", "hv2", 22, "admin", "/k/hv", "/k/kh")
    text = render_config([entry("a", jump=jump), entry("b", jump=jump)], "/d/kh")
    assert text.count("Host vmctl-jump-hv2\n") == 1
    assert text.count("    ProxyJump vmctl-jump-hv2\n") == 2
    assert "    User admin\n" in text and "    UserKnownHostsFile /k/kh\n" in text


def test_values_with_spaces_are_quoted_and_injection_is_refused():
    assert '    IdentityFile "/my keys/id"\n' in render_config([entry(identity_file="/my keys/id")], "/kh")
    for bad in ("/k\n    ProxyCommand sh -c evil", '/k"x', "/k\tx\x00"):
        with pytest.raises(InvalidInput):
            render_config([entry(identity_file=bad)], "/kh")


def test_known_hosts_keeps_other_guests_and_replaces_these():
    existing = f"vmctl-old {KEY}\nvmctl-web1 ssh-ed25519 AAAAstale\n"
    text = known_hosts_lines([entry()], existing)
    assert text.splitlines() == [f"vmctl-old {KEY}", f"vmctl-web1 {KEY}"]


def test_a_pinned_key_that_is_not_a_key_line_is_refused():
    with pytest.raises(InvalidInput):
        known_hosts_lines([entry(host_key="ssh-ed25519 AAAA\nvmctl-other ssh-ed25519 BBBB")])
