"""Header checks of untrusted images, on images made by the real qemu-img, and run_limited."""

import struct
import subprocess
import sys

import pytest

from vmctl.errors import HostError, InvalidInput, Timeout
from vmctl.local.imageheader import HEAD_BYTES, HeaderFacts, inspect_header, inspect_pool_copy
from vmctl.local.limits import run_limited

MiB = 1024 * 1024


def qemu_img(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-img", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL)


def make(tmp_path, name: str, *options: str, size: str = "64M") -> bytes:
    path = tmp_path / name
    proc = qemu_img("create", "-f", "qcow2", *options, str(path), size)
    assert proc.returncode == 0, proc.stderr
    return path.read_bytes()[:HEAD_BYTES]


def refused(head: bytes, declared: str | None = None, match: str = "") -> InvalidInput:
    with pytest.raises(InvalidInput, match=match) as err:
        inspect_header(head, declared, source="test.img")
    assert "test.img" in err.value.message and err.value.hint
    return err.value


@pytest.mark.parametrize(("compat", "version"), [("0.10", 2), ("1.1", 3)])
def test_plain_qcow2_versions(tmp_path, compat, version):
    head = make(tmp_path, "a.qcow2", "-o", f"compat={compat}")
    expected = HeaderFacts(format="qcow2", virtual_size=64 * MiB, version=version)
    assert inspect_header(head) == expected
    assert inspect_header(head, "qcow2") == expected


def test_raw(tmp_path):
    assert inspect_header(b"\0" * 4096) == HeaderFacts("raw", None, None)
    assert inspect_header(b"", "raw").format == "raw"
    assert inspect_header(b"\xeb\x63\x90" + b"\0" * 509, "raw").format == "raw"   # an MBR boot sector


def test_backing_file_refused_and_named(tmp_path):
    make(tmp_path, "base.qcow2")
    head = make(tmp_path, "top.qcow2", "-b", str(tmp_path / "base.qcow2"), "-F", "qcow2")
    err = refused(head, match="names a backing file")
    assert str(tmp_path / "base.qcow2") in err.message and "qemu-img convert" in err.hint
    refused(head, "qcow2", match="backing file")


def test_backing_format_extension_alone_is_a_backing_reference(tmp_path):
    head = bytearray(make(tmp_path, "top.qcow2", "-b", str(tmp_path / "nowhere.qcow2"), "-F", "qcow2", "-u"))
    head[8:20] = bytes(12)   # drop backing_file_offset and size, keep the backing format extension
    refused(bytes(head), match="backing format header extension")


def test_external_data_file_refused_and_named(tmp_path):
    head = make(tmp_path, "d.qcow2", "-o", f"data_file={tmp_path / 'data.raw'}")
    err = refused(head, match="external data file")
    assert str(tmp_path / "data.raw") in err.message


def test_data_file_bit_without_extension(tmp_path):
    head = bytearray(make(tmp_path, "a.qcow2"))
    head[72:80] = struct.pack(">Q", 1 << 2)
    assert refused(bytes(head), match="external data file").message.endswith("data file")


def test_encrypted_qcow2_refused(tmp_path):
    # qemu-img's LUKS key derivation times itself and fails on a loaded machine ("Unable to
    # get accurate CPU usage"), so the crypt method field is set by hand: AES (1) and LUKS (2).
    for method in (1, 2):
        head = bytearray(make(tmp_path, f"e{method}.qcow2"))
        head[32:36] = struct.pack(">I", method)
        refused(bytes(head), match="encrypted")


def test_qcow2_declared_raw_refused(tmp_path):
    err = refused(make(tmp_path, "sneaky.img"), "raw", match="declared raw but has a qcow2 header")
    assert "--format qcow2" in err.hint


def test_raw_declared_qcow2_refused():
    assert "--format raw" in refused(b"\0" * 4096, "qcow2", match="not a qcow2 image").hint


def test_unsupported_declared_format():
    refused(b"\0" * 512, "vmdk", match="unsupported image format 'vmdk'")


VDI = b"<<< Oracle VM VirtualBox Disk Image >>>\n".ljust(64, b"\0") + struct.pack("<I", 0xBEDA107F)
FOREIGN = [
    (b"KDMV", "vmdk"), (b"# Disk DescriptorFile\nversion=1\n", "vmdk"), (b"vhdxfile", "vhdx"),
    (VDI, "vdi"), (b"QED\x00", "qed"), (b"LUKS\xba\xbe\x00\x01", "LUKS"), (b"WithoutFreeSpace", "parallels"),
    (b"WithouFreSpacExt", "parallels"), (b"Bochs Virtual HD Image", "bochs"),
    (b"#!/bin/sh\n#V2.0 Format\n", "cloop"), (b"conectix", "vpc"),
]


@pytest.mark.parametrize(("magic", "name"), FOREIGN)
def test_foreign_formats_refused(magic, name):
    head = magic + b"\0" * 1024
    err = refused(head, match=f"is a {name}.* image, neither qcow2 nor raw")
    assert "qemu-img convert -O qcow2" in err.hint
    refused(head, "qcow2", match="neither qcow2 nor raw")
    refused(head, "raw", match=f"declared raw but has a {name}")


def test_vdi_needs_its_signature():
    assert inspect_header(b"<<< just text" + b"\0" * 1024).format == "raw"


def test_truncated_headers(tmp_path):
    v2 = make(tmp_path, "v2.qcow2", "-o", "compat=0.10")
    v3 = make(tmp_path, "v3.qcow2")
    refused(v2[:4], match="truncated qcow2 header")
    refused(v2[:71], match="truncated qcow2 header")
    refused(v3[:100], match="truncated qcow2 header")
    refused(v3[:110], match="truncated qcow2 header")   # shorter than its header_length (112)
    refused(v3[:200], match="runs past")                # the feature name table is cut off
    refused(v2[:72], match="runs past")                 # no end of extensions


def test_bad_versions_and_fields(tmp_path):
    head = make(tmp_path, "a.qcow2")
    for version in (1, 4):
        refused(head[:4] + struct.pack(">I", version) + head[8:], match=f"version {version}")
    refused(head[:20] + struct.pack(">I", 40) + head[24:], match="cluster size")
    refused(head[:100] + struct.pack(">I", 101) + head[104:], match="header length 101")


def test_extension_past_the_end(tmp_path):
    head = bytearray(make(tmp_path, "a.qcow2"))
    (header_len,) = struct.unpack_from(">I", head, 100)
    head[header_len:header_len + 8] = struct.pack(">II", 0x6803F857, HEAD_BYTES)
    refused(bytes(head), match=f"extension at byte {header_len} that runs past")
    small = bytes(head[:4096])
    refused(small, match="runs past the end of its header")


def test_unknown_incompatible_bit(tmp_path):
    head = bytearray(make(tmp_path, "a.qcow2"))
    head[72:80] = struct.pack(">Q", 1 << 5)
    refused(bytes(head), match="unknown qcow2 incompatible features .mask 0x20")
    head[72:80] = struct.pack(">Q", 1 << 0 | 1 << 3)   # dirty + compression type: known, accepted
    assert inspect_header(bytes(head)).format == "qcow2"


def test_control_characters_in_names_are_neutralised(tmp_path):
    make(tmp_path, "base.qcow2")
    head = make(tmp_path, "top.qcow2", "-b", str(tmp_path / "base\x1b[31m.qcow2"), "-F", "qcow2", "-u")
    err = refused(head, match="backing file")
    assert "\x1b" not in err.message and "base?[31m.qcow2" in err.message


def test_pool_copy_matches(tmp_path):
    head = make(tmp_path, "a.qcow2")
    assert inspect_pool_copy(head, "qcow2", 64 * MiB, source="pool copy").virtual_size == 64 * MiB
    assert inspect_pool_copy(b"\0" * 512, "raw", None, source="pool copy").format == "raw"
    assert inspect_pool_copy(b"\0" * 512, "raw", 4096, source="pool copy").format == "raw"


def test_pool_copy_mismatches(tmp_path):
    head = make(tmp_path, "a.qcow2")
    changed = "the copy in the pool differs from the file that was inspected: it changed while it was being imported"
    with pytest.raises(InvalidInput, match=f"pool copy: {changed} .virtual size {64 * MiB}, not 1024"):
        inspect_pool_copy(head, "qcow2", 1024, source="pool copy")
    with pytest.raises(InvalidInput, match=f"{changed} .qcow2, not raw"):
        inspect_pool_copy(head, "raw", None, source="pool copy")
    with pytest.raises(InvalidInput, match=f"{changed} .raw, not qcow2"):
        inspect_pool_copy(b"\0" * 512, "qcow2", 64 * MiB, source="pool copy")
    with pytest.raises(InvalidInput, match="neither qcow2 nor raw"):
        inspect_pool_copy(b"KDMV" + bytes(512), "raw", None, source="pool copy")
    with pytest.raises(InvalidInput, match="unsupported image format"):
        inspect_pool_copy(head, "vmdk", None, source="pool copy")
    make(tmp_path, "base.qcow2")
    top = make(tmp_path, "top.qcow2", "-b", str(tmp_path / "base.qcow2"), "-F", "qcow2")
    with pytest.raises(InvalidInput, match="backing file"):
        inspect_pool_copy(top, "qcow2", 64 * MiB, source="pool copy")


# run_limited


def test_run_limited_captures_text_output():
    proc = run_limited([sys.executable, "-c", "import sys; print('out'); print(sys.stdin.read() == '')"])
    assert (proc.returncode, proc.stdout) == (0, "out\nTrue\n")


def test_run_limited_memory_limit():
    alloc = [sys.executable, "-c", "b = bytearray(512 << 20)"]
    proc = run_limited(alloc, memory_bytes=256 * MiB)
    assert proc.returncode != 0 and "MemoryError" in proc.stderr
    assert run_limited(alloc, memory_bytes=2 << 30).returncode == 0


def test_run_limited_cpu_limit():
    proc = run_limited([sys.executable, "-c", "while True: pass"], cpu_seconds=1, timeout=30)
    assert proc.returncode < 0   # killed by SIGXCPU (or SIGKILL at the hard limit)


def test_run_limited_missing_tool():
    with pytest.raises(HostError, match="vmctl-no-such-tool is not installed"):
        run_limited(["vmctl-no-such-tool", "--version"])
    with pytest.raises(HostError) as err:
        run_limited(["/nonexistent/qemu-img", "info"])
    assert "qemu-utils" in err.value.hint


def test_run_limited_timeout():
    with pytest.raises(Timeout, match="did not finish within 0.5 s"):
        run_limited([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_run_limited_uses_no_shell(tmp_path):
    proc = run_limited(["echo", "$HOME; touch", str(tmp_path / "x")])
    assert proc.stdout.startswith("$HOME; touch") and not (tmp_path / "x").exists()
