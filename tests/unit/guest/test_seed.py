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
