"""Image inspection with the real qemu-img (no libvirt needed)."""

import json
import os
import struct
import subprocess

import pytest

from vmctl.local import diskimage
from vmctl.local.diskimage import inspect
from vmctl.errors import InvalidInput, NotFound


def qemu_img(*args: str) -> None:
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_plain_qcow2_and_raw_accepted(tmp_path):
    qemu_img("create", "-f", "qcow2", str(tmp_path / "a.qcow2"), "64M")
    info = inspect(tmp_path / "a.qcow2")
    assert (info.format, info.virtual_size) == ("qcow2", 64 * 1024 * 1024)
    (tmp_path / "b.raw").write_bytes(b"\0" * 4096)
    assert inspect(tmp_path / "b.raw").format == "raw"


def test_backing_file_refused(tmp_path):
    qemu_img("create", "-f", "qcow2", str(tmp_path / "base.qcow2"), "64M")
    qemu_img("create", "-f", "qcow2", "-F", "qcow2", "-b", str(tmp_path / "base.qcow2"), str(tmp_path / "top.qcow2"))
    with pytest.raises(InvalidInput, match="backing file"):
        inspect(tmp_path / "top.qcow2")


def test_external_data_file_refused(tmp_path):
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'data.raw'}", str(tmp_path / "d.qcow2"), "64M")
    with pytest.raises(InvalidInput, match="data file"):
        inspect(tmp_path / "d.qcow2")


def test_raw_with_qcow2_header_refused(tmp_path):
    qemu_img("create", "-f", "qcow2", str(tmp_path / "sneaky.img"), "64M")
    with pytest.raises(InvalidInput, match="qcow2 header"):
        inspect(tmp_path / "sneaky.img", "raw")


def test_other_formats_and_missing(tmp_path):
    (tmp_path / "x.vmdk").write_bytes(b"KDMV" + b"\0" * 100)
    with pytest.raises(InvalidInput, match="neither qcow2 nor raw"):
        inspect(tmp_path / "x.vmdk")
    with pytest.raises(NotFound):
        inspect(tmp_path / "missing.qcow2")


def test_qcow2_v2_v3_and_declared_formats(tmp_path):
    qemu_img("create", "-f", "qcow2", "-o", "compat=0.10", str(tmp_path / "v2.qcow2"), "32M")
    assert inspect(tmp_path / "v2.qcow2", "qcow2").virtual_size == 32 * 1024 * 1024
    qemu_img("create", "-f", "raw", str(tmp_path / "r.img"), "8M")
    assert (inspect(tmp_path / "r.img", "raw").format, inspect(tmp_path / "r.img").virtual_size) == ("raw", 8 << 20)
    with pytest.raises(InvalidInput, match="not a qcow2 image"):
        inspect(tmp_path / "r.img", "qcow2")
    with pytest.raises(InvalidInput, match="unsupported image format"):
        inspect(tmp_path / "r.img", "vmdk")


def test_symlink_and_non_regular_files_refused(tmp_path):
    qemu_img("create", "-f", "qcow2", str(tmp_path / "a.qcow2"), "64M")
    (tmp_path / "link.qcow2").symlink_to(tmp_path / "a.qcow2")
    with pytest.raises(InvalidInput, match="symbolic link"):
        inspect(tmp_path / "link.qcow2")
    with pytest.raises(NotFound, match="not a regular file"):
        inspect(tmp_path)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(NotFound, match="not a regular file"):
        inspect(tmp_path / "fifo")


def test_header_refusals_come_before_qemu_img(tmp_path, monkeypatch):
    def no_qemu_img(argv, **kwargs):
        raise AssertionError("qemu-img must not run on a refused header")

    monkeypatch.setattr(diskimage, "run_limited", no_qemu_img)
    (tmp_path / "x.vdi").write_bytes(b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(64, b"\0")
                                     + struct.pack("<I", 0xBEDA107F) + b"\0" * 512)
    with pytest.raises(InvalidInput, match="vdi image, neither qcow2 nor raw"):
        inspect(tmp_path / "x.vdi")
    qemu_img("create", "-f", "qcow2", "-o", f"data_file={tmp_path / 'data.raw'}", str(tmp_path / "d.qcow2"), "64M")
    with pytest.raises(InvalidInput, match=f"external data file .{tmp_path / 'data.raw'}"):
        inspect(tmp_path / "d.qcow2")


def fake_qemu_img(monkeypatch, info: dict, returncode: int = 0, stderr: str = "") -> list:
    calls = []

    def run(argv, **kwargs):
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, returncode, json.dumps(info), stderr)

    monkeypatch.setattr(diskimage, "run_limited", run)
    return calls


def test_qemu_img_runs_limited_with_the_format_stated(tmp_path, monkeypatch):
    (tmp_path / "r.img").write_bytes(b"\0" * 4096)
    calls = fake_qemu_img(monkeypatch, {"virtual-size": 4096, "actual-size": 4096})
    assert inspect(tmp_path / "r.img").virtual_size == 4096
    assert calls == [["qemu-img", "info", "-f", "raw", "--output=json", "--", str(tmp_path / "r.img")]]


def test_qemu_img_findings_are_a_second_line_of_defence(tmp_path, monkeypatch):
    qemu_img("create", "-f", "qcow2", str(tmp_path / "a.qcow2"), "64M")
    size = 64 * 1024 * 1024
    fake_qemu_img(monkeypatch, {"virtual-size": size, "backing-filename": "/etc/shadow"})
    with pytest.raises(InvalidInput, match="backing file ./etc/shadow"):
        inspect(tmp_path / "a.qcow2")
    fake_qemu_img(monkeypatch, {"virtual-size": size, "format-specific": {"data": {"data-file": "/dev/sda"}}})
    with pytest.raises(InvalidInput, match="external data file"):
        inspect(tmp_path / "a.qcow2")
    fake_qemu_img(monkeypatch, {"virtual-size": size + 1})
    with pytest.raises(InvalidInput, match="changed while it was being inspected"):
        inspect(tmp_path / "a.qcow2")
    fake_qemu_img(monkeypatch, {}, returncode=1, stderr="qemu-img: Could not open")
    with pytest.raises(InvalidInput, match="qemu-img cannot read .*Could not open"):
        inspect(tmp_path / "a.qcow2")
    fake_qemu_img(monkeypatch, {"no": "size"})
    with pytest.raises(InvalidInput, match="no virtual size"):
        inspect(tmp_path / "a.qcow2")
