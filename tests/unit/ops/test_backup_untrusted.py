"""A backup directory is untrusted input: forged manifests (keys that are paths, names
vmctl backup never writes, entries of the wrong role) and symlinks are refused before
anything is read through them; the definition used is exactly the hashed bytes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from vmctl.errors import InvalidInput, NotFound
from vmctl.ops.backupcheck import check_backup, still_plain

XML = b"<domain type='qemu'><name>vm</name></domain>\n"


def entry(data: bytes, **kw: object) -> dict[str, object]:
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **kw}


def make_backup(path: Path, files: dict[str, tuple[bytes, dict]] | None = None) -> Path:
    """A backup as vmctl writes it: a disk, a seed CD-ROM, a kernel and the definition."""
    files = files if files is not None else {
        "disk-vda.qcow2": (b"QFI\xfb disk", {"role": "disk", "target": "vda", "device": "disk", "format": "qcow2"}),
        "disk-hdc.iso": (b"seed", {"role": "disk", "target": "hdc", "device": "cdrom", "format": "raw"}),
        "kernel": (b"kernel", {"role": "kernel"}),
        "domain.xml": (XML, {"role": "definition"}),
    }
    path.mkdir()
    for name, (data, _meta) in files.items():
        (path / name).write_bytes(data)
    write_manifest(path, {name: entry(data, **meta) for name, (data, meta) in files.items()})
    return path


def write_manifest(path: Path, files: dict[str, object]) -> None:
    (path / "manifest.json").write_text(json.dumps({"format": 1, "vm": "vm", "files": files}))


def manifest_of(path: Path) -> dict:
    return json.loads((path / "manifest.json").read_text())


def test_a_backup_as_vmctl_writes_it_passes_and_gives_the_hashed_definition(tmp_path):
    checked = check_backup(make_backup(tmp_path / "bk"))
    assert checked.xml == XML
    assert sorted(checked.disks) == ["disk-hdc.iso", "disk-vda.qcow2"]


@pytest.mark.parametrize("key", ["/etc/shadow", "../x", "disk-vda.qcow2/../../etc/shadow", "sub/disk-vda.qcow2",
                                 "a\0b", "..", ".", "", "disk-../x.qcow2", "..\\x"])
def test_a_key_that_is_a_path_is_refused(tmp_path, key):
    bk = make_backup(tmp_path / "bk")
    files = manifest_of(bk)["files"]
    files[key] = entry(b"x", role="disk", target="vdb", device="disk", format="qcow2")
    write_manifest(bk, files)
    with pytest.raises(InvalidInput) as err:
        check_backup(bk)
    assert "not a file" in err.value.message and err.value.hint


def test_the_key_etc_shadow_is_refused_even_when_a_same_named_file_matches(tmp_path):
    """Before: the hash was looked up by basename ('shadow') but the file read by key."""
    bk = make_backup(tmp_path / "bk")
    (bk / "shadow").write_bytes(b"harmless")
    files = manifest_of(bk)["files"]
    files["/etc/shadow"] = entry(b"harmless", role="kernel")
    write_manifest(bk, files)
    with pytest.raises(InvalidInput, match="'/etc/shadow', which is not a file inside the backup"):
        check_backup(bk)


@pytest.mark.parametrize("key", ["evil.sh", "disk-vda.raw", "manifest.json", "initrd.img", "nvram"])
def test_a_name_vmctl_backup_never_writes_is_refused(tmp_path, key):
    bk = make_backup(tmp_path / "bk")
    if key != "manifest.json":
        (bk / key).write_bytes(b"#!/bin/sh\n")
    files = manifest_of(bk)["files"]
    files[key] = entry(b"#!/bin/sh\n", role="kernel")
    write_manifest(bk, files)
    with pytest.raises(InvalidInput, match="not a file vmctl backup writes"):
        check_backup(bk)


@pytest.mark.parametrize("name,change", [
    ("disk-vda.qcow2", {"target": "vdb"}),          # the target is the name's
    ("disk-vda.qcow2", {"format": "raw"}),
    ("disk-vda.qcow2", {"device": "cdrom"}),
    ("disk-hdc.iso", {"device": "disk"}),
    ("kernel", {"role": "disk"}),
    ("domain.xml", {"role": "kernel"}),
    ("kernel", {"size": "6"}),
    ("kernel", {"sha256": "../../etc"}),
])
def test_an_entry_of_the_wrong_kind_is_refused(tmp_path, name, change):
    bk = make_backup(tmp_path / "bk")
    files = manifest_of(bk)["files"]
    files[name].update(change)
    write_manifest(bk, files)
    with pytest.raises(InvalidInput) as err:
        check_backup(bk)
    assert name in err.value.message


def test_a_symlinked_disk_is_refused_even_with_a_matching_checksum(tmp_path):
    target = tmp_path / "host-file"
    target.write_bytes(b"a host secret")
    bk = make_backup(tmp_path / "bk")
    (bk / "disk-vda.qcow2").unlink()
    (bk / "disk-vda.qcow2").symlink_to(target)
    files = manifest_of(bk)["files"]
    files["disk-vda.qcow2"].update(entry(b"a host secret"))
    write_manifest(bk, files)
    with pytest.raises(InvalidInput, match="disk-vda.qcow2 .* not a regular file"):
        check_backup(bk)


@pytest.mark.parametrize("name", ["domain.xml", "manifest.json", "kernel"])
def test_symlinked_definition_manifest_or_kernel_is_refused(tmp_path, name):
    bk = make_backup(tmp_path / "bk")
    real = tmp_path / f"real-{name}"
    os.rename(bk / name, real)
    (bk / name).symlink_to(real)
    with pytest.raises(InvalidInput, match="regular file|plain file"):
        check_backup(bk)


def test_a_directory_or_fifo_in_place_of_a_file_is_refused(tmp_path):
    bk = make_backup(tmp_path / "bk")
    (bk / "kernel").unlink()
    os.mkfifo(bk / "kernel")  # opening it without O_NONBLOCK would hang
    with pytest.raises(InvalidInput, match="kernel .* not a regular file"):
        check_backup(bk)


def test_a_file_swapped_for_a_symlink_after_the_check_is_refused_when_read(tmp_path):
    bk = make_backup(tmp_path / "bk")
    check_backup(bk)
    (bk / "disk-vda.qcow2").unlink()
    (bk / "disk-vda.qcow2").symlink_to("/etc/passwd")
    with pytest.raises(InvalidInput):
        still_plain(bk, "disk-vda.qcow2")


def test_damage_extra_and_missing_files_are_still_named(tmp_path):
    bk = make_backup(tmp_path / "bk")
    (bk / "kernel").write_bytes(b"kerneL")
    with pytest.raises(InvalidInput, match="kernel in .* does not match its checksum"):
        check_backup(bk)
    bk2 = make_backup(tmp_path / "bk2")
    (bk2 / "extra.sh").write_text("#!/bin/sh\n")
    with pytest.raises(InvalidInput, match="does not list: extra.sh"):
        check_backup(bk2)
    bk3 = make_backup(tmp_path / "bk3")
    (bk3 / "kernel").unlink()
    with pytest.raises(InvalidInput, match="lacks kernel"):
        check_backup(bk3)


def test_no_definition_or_no_manifest(tmp_path):
    with pytest.raises(NotFound):
        check_backup(tmp_path)
    bk = make_backup(tmp_path / "bk", {"kernel": (b"k", {"role": "kernel"})})
    with pytest.raises(InvalidInput, match="no domain.xml"):
        check_backup(bk)


@pytest.mark.parametrize("manifest", [[], {"format": 2, "vm": "vm", "files": {}}, {"format": 1, "files": {}},
                                      {"format": 1, "vm": 3, "files": {}}, {"format": 1, "vm": "vm", "files": []}])
def test_a_manifest_of_another_shape_is_refused(tmp_path, manifest):
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInput, match="not a vmctl backup manifest of a known format"):
        check_backup(tmp_path)


def test_a_seed_with_a_private_host_key_is_recognised(tmp_path):
    from vmctl.guest.seed import build_seed_iso
    from vmctl.ops.seed import holds_private_key

    keys = {"ed25519_private": "-----BEGIN OPENSSH PRIVATE KEY-----\n...", "ed25519_public": "ssh-ed25519 AAAA"}
    secret = build_seed_iso(tmp_path / "secret.iso", instance_id="i", hostname="h", user_data={"ssh_keys": keys})
    clean = build_seed_iso(tmp_path / "clean.iso", instance_id="i", hostname="h",
                           user_data={"ssh_keys": {"ed25519_public": "ssh-ed25519 AAAA"}})
    (tmp_path / "junk.iso").write_bytes(b"\0" * 65536)
    assert holds_private_key(secret) and not holds_private_key(clean)
    assert not holds_private_key(tmp_path / "junk.iso")
