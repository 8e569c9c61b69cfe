"""Image inspection with the real qemu-img (no libvirt needed)."""

import subprocess

import pytest

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
