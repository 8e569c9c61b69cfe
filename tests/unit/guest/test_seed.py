"""NoCloud seed ISO: round trip, label, mode, atomic writes, guest-side parsing."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from vmctl.errors import InvalidInput, NotFound, OperationFailed
from vmctl.guest.seed import build_seed_iso, read_seed_iso, render_seed_files, seed_label

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    "QyNTUxOQAAACDzQR3aqPrV75LElQO6RyYc7bTRfPDWsgiW014h0FvWpwAAAIhsFaYPbBWm\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPNBHdqo+tXvksSVA7pHJhzttNF88NayCJbTXiHQW9an host@example"
USER_KEYS = [
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN/9wBrRqfzkGxH/D45xqH2jpPBCTNG+Xgs7dDAF7oGc alice@laptop with spaces",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7bhtm+o20iPPY5/bLFRt/0ezqhPKI6nG1JhE2OSR9o",
]
USER_DATA = {
    "hostname": "web-1",
    "ssh_authorized_keys": USER_KEYS,
    "ssh_keys": {"ed25519_private": PRIVATE_KEY, "ed25519_public": PUBLIC_KEY},
}
GUEST_AWK = Path(__file__).resolve().parents[3] / "vmctl/tinyguest/files/rootfs/etc/vmctl/cloud-config.awk"


def _seed(tmp_path: Path, **kw: object) -> Path:
    args: dict = {"instance_id": "iid-123", "hostname": "web-1", "user_data": USER_DATA}
    args.update(kw)
    return build_seed_iso(tmp_path / "seed.iso", **args)


def test_round_trip(tmp_path: Path) -> None:
    files = read_seed_iso(_seed(tmp_path))
    assert set(files) == {"meta-data", "user-data"}
    assert yaml.safe_load(files["meta-data"]) == {"instance-id": "iid-123", "local-hostname": "web-1"}
    assert files["user-data"].startswith("#cloud-config\n")
    assert yaml.safe_load(files["user-data"]) == USER_DATA


def test_network_config_is_optional(tmp_path: Path) -> None:
    net = {"version": 2, "ethernets": {"eth0": {"dhcp4": True}}}
    files = read_seed_iso(_seed(tmp_path, network_config=net))
    assert yaml.safe_load(files["network-config"]) == net


def test_private_key_is_a_literal_block_and_lines_are_not_folded(tmp_path: Path) -> None:
    text = read_seed_iso(_seed(tmp_path))["user-data"]
    assert "  ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n" in text
    assert f"- {USER_KEYS[0]}\n" in text


def test_label_is_cidata(tmp_path: Path) -> None:
    iso = _seed(tmp_path)
    assert seed_label(iso) == "cidata"
    if shutil.which("blkid"):
        out = subprocess.run(["blkid", "-o", "export", str(iso)], capture_output=True, text=True).stdout
        assert "LABEL=cidata" in out.splitlines()
        assert "TYPE=iso9660" in out.splitlines()


def test_mode_is_0600_and_no_temp_files(tmp_path: Path) -> None:
    iso = _seed(tmp_path)
    assert stat.S_IMODE(os.stat(iso).st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.iso"]


def test_rewrite_replaces_atomically(tmp_path: Path) -> None:
    _seed(tmp_path)
    iso = _seed(tmp_path, instance_id="iid-456")
    assert "iid-456" in read_seed_iso(iso)["meta-data"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.iso"]


def test_failure_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    iso = _seed(tmp_path)
    before = iso.read_bytes()
    with pytest.raises(InvalidInput):
        _seed(tmp_path, user_data={"bad": object()})
    assert iso.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed.iso"]


def test_missing_directory_is_operation_failed(tmp_path: Path) -> None:
    with pytest.raises(OperationFailed) as err:
        build_seed_iso(tmp_path / "nope" / "seed.iso", instance_id="i", hostname="h")
    assert err.value.hint


@pytest.mark.parametrize("bad", [{"instance_id": ""}, {"instance_id": "a b"}, {"hostname": "-x"}, {"hostname": "a\nb"}])
def test_invalid_identity_rejected(tmp_path: Path, bad: dict) -> None:
    with pytest.raises(InvalidInput):
        _seed(tmp_path, **bad)


def test_empty_user_data(tmp_path: Path) -> None:
    files = read_seed_iso(build_seed_iso(tmp_path / "s.iso", instance_id="i-1", hostname="h"))
    assert files["user-data"].startswith("#cloud-config\n")
    assert yaml.safe_load(files["user-data"]) == {}


def test_read_missing_iso(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        read_seed_iso(tmp_path / "missing.iso")


def test_read_garbage_is_operation_failed(tmp_path: Path) -> None:
    junk = tmp_path / "junk.iso"
    junk.write_bytes(b"not an iso" * 100)
    with pytest.raises(OperationFailed):
        read_seed_iso(junk)


@pytest.mark.skipif(shutil.which("awk") is None, reason="no awk")
def test_guest_parser_reads_what_seed_writes(tmp_path: Path) -> None:
    """The tiny guest's awk parser understands the user-data this module renders."""
    user_data = dict(USER_DATA, hostname="123")  # YAML quotes it: '123'
    text = render_seed_files(instance_id="i", hostname="h", user_data=user_data)["user-data"]
    (tmp_path / "user-data").write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["awk", "-v", f"OUT={out}", "-f", str(GUEST_AWK), str(tmp_path / "user-data")], check=True)
    assert (out / "hostname").read_text() == "123\n"
    assert (out / "authorized_keys").read_text() == "".join(k + "\n" for k in USER_KEYS)
    assert (out / "ed25519_private").read_text() == PRIVATE_KEY
    assert (out / "ed25519_public").read_text() == PUBLIC_KEY + "\n"


# --- users: (the tiny guest creates them from what the awk parser extracts) ---

ALICE_KEY = USER_KEYS[0]
_AWKS = [["awk"]] if shutil.which("awk") else []
if shutil.which("busybox"):
    _AWKS.append(["busybox", "awk"])  # the guest's own awk
needs_awk = pytest.mark.parametrize("awk", _AWKS or [pytest.param(None, marks=pytest.mark.skip(reason="no awk"))],
                                    ids=lambda a: " ".join(a or ["none"]))


def _run_guest_parser(tmp_path: Path, awk: list[str], text: str) -> tuple[Path, list[str]]:
    """Run cloud-config.awk on ``text``; the output directory and the warnings it printed."""
    (tmp_path / "user-data").write_text(text)
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([*awk, "-v", f"OUT={out}", "-f", str(GUEST_AWK), str(tmp_path / "user-data")],
                          check=True, capture_output=True, text=True)
    lines = done.stdout.splitlines()
    assert all(line.startswith("vmctl-guest: warning users: ") for line in lines), lines
    return out, lines


def _user_data_text(user_data: dict) -> str:
    return render_seed_files(instance_id="i", hostname="h", user_data=user_data)["user-data"]


def _files(out: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(out.iterdir())}


def _alice_user_data(**extra: object) -> dict:
    from vmctl.guest.cloudconfig import build_user_data
    from vmctl.ssh.keys import KeyPair

    return build_user_data(hostname="web-1", user="alice", default_user="root", authorized_key=ALICE_KEY,
                           host_key=KeyPair(PRIVATE_KEY, PUBLIC_KEY), extra=dict(extra) or None)


@needs_awk
def test_guest_parser_reads_users_of_build_user_data(tmp_path: Path, awk: list[str]) -> None:
    user_data = _alice_user_data()
    assert user_data["users"][0] == "default" and user_data["users"][1]["sudo"]
    text = _user_data_text(user_data)
    assert "users:\n- default\n- name: alice\n  ssh_authorized_keys:\n  - " in text
    out, warnings = _run_guest_parser(tmp_path, awk, text)
    assert warnings == []
    assert _files(out) == {
        "authorized_keys": ALICE_KEY + "\n",
        "ed25519_private": PRIVATE_KEY,
        "ed25519_public": PUBLIC_KEY + "\n",
        "hostname": "web-1\n",
        "user.alice.authorized_keys": ALICE_KEY + "\n",
        "user.alice.shell": "/bin/sh\n",
        "users": "alice\n",
    }


@needs_awk
def test_users_do_not_change_the_other_outputs(tmp_path: Path, awk: list[str]) -> None:
    """Byte-for-byte the same hostname, root keys and host key, with users before or after them."""
    (tmp_path / "base").mkdir()
    base, _ = _run_guest_parser(tmp_path / "base", awk, _user_data_text(USER_DATA))
    users = [{"name": "bob", "ssh_authorized_keys": ["ssh-ed25519 BOB"], "sudo": ["ALL=(ALL) ALL"]}]
    for n, data in enumerate([dict(USER_DATA, users=users), {"users": users, **USER_DATA}]):
        (tmp_path / str(n)).mkdir()
        out, _ = _run_guest_parser(tmp_path / str(n), awk, _user_data_text(data))
        files = _files(out)
        assert files.pop("users") == "bob\n"
        assert files.pop("user.bob.authorized_keys") == "ssh-ed25519 BOB\n"
        assert files == _files(base)


@needs_awk
@pytest.mark.parametrize("bad", ["root", "../x", "Alice", "a b", 'a"b', "a'b", "x;reboot", "-x", "1abc",
                                 "a" * 33, "", "al\tice", "ali:ce", "alice/..", "é"])
def test_guest_parser_skips_bad_user_names(tmp_path: Path, awk: list[str], bad: str) -> None:
    users = ["default", {"name": bad, "ssh_authorized_keys": ["ssh-ed25519 EVIL"], "shell": "/bin/sh"}]
    out, warnings = _run_guest_parser(tmp_path, awk, _user_data_text(dict(USER_DATA, users=users)))
    assert len(warnings) == 1
    assert set(_files(out)) == {"hostname", "authorized_keys", "ed25519_private", "ed25519_public"}
    for line in warnings:  # the console line never carries raw seed data
        assert all(c.isalnum() or c in " .-_@+?':()" for c in line), line


@needs_awk
def test_guest_parser_ignores_default_and_unsupported_keys(tmp_path: Path, awk: list[str]) -> None:
    users = ["default", {"name": "carol", "groups": ["wheel", "adm"], "sudo": ["ALL=(ALL) NOPASSWD:ALL"],
                         "lock_passwd": True, "gecos": "name: evil", "ssh_import_id": ["gh:x"]}]
    out, warnings = _run_guest_parser(tmp_path, awk, _user_data_text({"users": users}))
    assert warnings == []
    assert _files(out) == {"users": "carol\n"}  # no keys, no shell: seed.sh uses /bin/sh

    (tmp_path / "d").mkdir()
    out, warnings = _run_guest_parser(tmp_path / "d", awk, _user_data_text({"users": ["default"]}))
    assert warnings == [] and _files(out) == {}


@needs_awk
def test_guest_parser_reads_two_users(tmp_path: Path, awk: list[str]) -> None:
    users = [{"name": "bob", "shell": "/bin/ash", "ssh_authorized_keys": ["ssh-ed25519 B1 b@x", "ssh-ed25519 B2"]}]
    user_data = _alice_user_data(users=users)
    assert [u["name"] for u in user_data["users"]] == ["bob", "alice"]
    out, warnings = _run_guest_parser(tmp_path, awk, _user_data_text(user_data))
    assert warnings == []
    files = _files(out)
    assert files["users"] == "bob\nalice\n"
    assert files["user.bob.authorized_keys"] == "ssh-ed25519 B1 b@x\nssh-ed25519 B2\n"
    assert files["user.bob.shell"] == "/bin/ash\n"
    assert files["user.alice.authorized_keys"] == ALICE_KEY + "\n"
    assert files["user.alice.shell"] == "/bin/sh\n"
    assert files["authorized_keys"] == ALICE_KEY + "\n"  # root's keys are unchanged


@needs_awk
def test_guest_parser_reads_hand_written_users(tmp_path: Path, awk: list[str]) -> None:
    """Indented lists, quoting, keys in any order, a nested mapping and a literal block."""
    text = (
        "#cloud-config\n"
        "users:\n"
        "  - default\n"
        "  - shell: '/bin/ash'\n"
        "    ssh_authorized_keys:\n"
        "      - \"ssh-ed25519 D1\"\n"
        "      - 'ssh-ed25519 D2 it''s me'\n"
        "    name: dave\n"
        "    sudo:\n"
        "      - ALL=(ALL) ALL\n"
        "    other:\n"
        "      name: evil\n"
        "      ssh_authorized_keys:\n"
        "      - ssh-ed25519 EVIL\n"
        "    description: |\n"
        "      - ssh-ed25519 EVIL2\n"
        "      name: evil2\n"
        "  -\n"
        "    name: erin\n"
        "  - name: dave\n"
        "  - frank\n"
        "hostname: h2\n"
        "ssh_authorized_keys:\n"
        "- ssh-ed25519 ROOT\n"
    )
    out, warnings = _run_guest_parser(tmp_path, awk, text)
    assert warnings == ["vmctl-guest: warning users: skipping duplicate user 'dave'",
                        "vmctl-guest: warning users: skipping entry 'frank' (not a mapping)"]
    assert _files(out) == {
        "authorized_keys": "ssh-ed25519 ROOT\n",
        "hostname": "h2\n",
        "user.dave.authorized_keys": "ssh-ed25519 D1\nssh-ed25519 D2 it's me\n",
        "user.dave.shell": "/bin/ash\n",
        "users": "dave\nerin\n",
    }
