"""Tiny guest recipe id, cache behaviour, module ordering and kernel unpacking.

No network, no apt, no booting: the real build and boot are exercised elsewhere.
"""

from __future__ import annotations

import lzma
import os
import shutil
import stat
import struct
import time
from pathlib import Path

import pytest

from vmctl.errors import OperationFailed
from vmctl.tinyguest import TinyGuest, build, build_tiny_guest, kernelimage, kmods, recipe, recipe_id


@pytest.fixture
def files_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "files"
    shutil.copytree(recipe.FILES_DIR, dest)
    return dest


@pytest.fixture
def no_host_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to run a host tool (apt, dpkg, mkfs...) fail the test."""

    def forbidden(*_a: object, **_k: object) -> str:
        raise AssertionError("a host tool was run")

    for mod in ("debs", "kmods", "layout", "images"):
        monkeypatch.setattr(f"vmctl.tinyguest.{mod}.run", forbidden, raising=False)
    monkeypatch.setattr("vmctl.tinyguest.images.run_bytes", forbidden)
    monkeypatch.setattr("vmctl.tinyguest.build.require_tools", lambda *names: None)


def test_recipe_id_is_stable_and_short() -> None:
    rid = recipe_id()
    assert rid == recipe_id() == recipe.recipe_id(recipe.FILES_DIR)
    assert len(rid) == 16 and int(rid, 16) >= 0


def test_recipe_id_changes_with_guest_scripts(files_copy: Path) -> None:
    base = recipe.recipe_id(files_copy)
    assert base == recipe_id()
    boot = files_copy / "rootfs/etc/vmctl/boot.sh"
    boot.write_text(boot.read_text() + "# changed\n")
    changed = recipe.recipe_id(files_copy)
    assert changed != base
    (files_copy / "rootfs/etc/motd").write_text("hello\n")
    assert recipe.recipe_id(files_copy) not in (base, changed)


def test_recipe_id_changes_with_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    base = recipe_id()
    monkeypatch.setattr(recipe, "MODULES", recipe.MODULES + ("loop",))
    with_module = recipe_id()
    monkeypatch.setattr(recipe, "PACKAGES", recipe.PACKAGES + ("strace",))
    assert len({base, with_module, recipe_id()}) == 3


def test_recipe_id_is_quick() -> None:
    start = time.perf_counter()
    for _ in range(10):
        recipe_id()
    assert (time.perf_counter() - start) / 10 < 0.02


def _fake_done(cache_root: Path) -> Path:
    d = cache_root / recipe_id()
    d.mkdir(parents=True)
    for name in (build.KERNEL_NAME, build.INITRD_NAME, build.ROOTFS_NAME, build.DONE_NAME):
        (d / name).write_text("x")
    return d


def test_cache_hit_returns_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_host_tools: None) -> None:
    d = _fake_done(tmp_path)
    monkeypatch.setattr(build, "_build_into", lambda *a: pytest.fail("rebuilt a cached guest"))
    start = time.perf_counter()
    guest = build_tiny_guest(tmp_path, progress=lambda m: pytest.fail(f"progress on cache hit: {m}"))
    assert time.perf_counter() - start < 0.05
    assert guest == TinyGuest(
        recipe_id=recipe_id(),
        kernel=d / build.KERNEL_NAME,
        initrd=d / build.INITRD_NAME,
        rootfs=d / build.ROOTFS_NAME,
        cmdline=recipe.CMDLINE,
    )
    assert "console=ttyS0" in guest.cmdline and "root=/dev/vda" in guest.cmdline


def _fake_build(out: Path, rid: str, say: build.Progress) -> None:
    say("fake build")
    for name in (build.KERNEL_NAME, build.INITRD_NAME, build.ROOTFS_NAME):
        (out / name).write_text(name)
    (out / build.DONE_NAME).write_text(rid)


def test_build_renames_into_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_host_tools: None) -> None:
    monkeypatch.setattr(build, "_build_into", _fake_build)
    messages: list[str] = []
    guest = build_tiny_guest(tmp_path / "cache", progress=messages.append)
    assert guest.rootfs.read_text() == build.ROOTFS_NAME
    assert messages[0] == "fake build"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [recipe_id()]
    assert stat.S_IMODE(os.stat(guest.rootfs.parent).st_mode) == 0o755


def test_incomplete_dir_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_host_tools: None) -> None:
    stale = tmp_path / recipe_id()
    stale.mkdir()
    (stale / "vmlinux").write_text("half")
    monkeypatch.setattr(build, "_build_into", _fake_build)
    guest = build_tiny_guest(tmp_path)
    assert guest.kernel.read_text() == build.KERNEL_NAME


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_host_tools: None) -> None:
    def broken(out: Path, rid: str, say: build.Progress) -> None:
        (out / "work").mkdir()
        (out / "work/partial.deb").write_text("x")
        raise OperationFailed("apt-get download failed", "run 'apt-get update'")

    monkeypatch.setattr(build, "_build_into", broken)
    with pytest.raises(OperationFailed):
        build_tiny_guest(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert build.cached_tiny_guest(tmp_path) is None


def test_modules_are_resolved_in_dependency_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deps = {"ext4": ["jbd2", "mbcache", "crc16"], "jbd2": [], "mbcache": [], "crc16": [],
            "virtio_blk": ["virtio", "virtio_ring"], "virtio": ["virtio_ring"], "virtio_ring": [],
            "virtio_rng": ["virtio"]}
    (tmp_path / "modules.order").write_text("".join(f"kernel/x/{m.replace('_', '-')}.ko\n" for m in deps))
    (tmp_path / "modules.builtin").write_text("kernel/y/rng-core.ko\n")
    monkeypatch.setattr(kmods, "depends", lambda ko: deps[kmods.norm(ko.stem)])
    fetched: list[str] = []

    def fetch(names: list[str]) -> None:
        fetched.extend(names)
        for n in names:
            p = tmp_path / "kernel/x" / f"{n.replace('_', '-')}.ko"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("")

    order = [n for n, _ in kmods.resolve(["ext4", "virtio_blk", "virtio-rng", "rng_core"], tmp_path, fetch)]
    assert order == ["jbd2", "mbcache", "crc16", "ext4", "virtio_ring", "virtio", "virtio_blk", "virtio_rng"]
    assert sorted(fetched) == sorted(order)
    with pytest.raises(OperationFailed):
        kmods.resolve(["nosuchmod"], tmp_path, fetch)


def test_member_pattern_matches_dash_and_underscore() -> None:
    assert kmods.member_pattern("virtio_rng") == "./lib/modules/*/virtio[-_]rng.ko"


def _fake_elf(pvh: bool) -> bytes:
    """A minimal ELF64 with one PT_NOTE segment holding a Xen note."""
    ntype = 18 if pvh else 5
    note = struct.pack("<III", 4, 8, ntype) + b"Xen\x00" + b"\x00" * 8
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<HH", header, 0x36, 56, 1)  # e_phentsize, e_phnum
    phdr = struct.pack("<IIQQQQQQ", 4, 4, 64 + 56, 0, 0, len(note), len(note), 4)
    return bytes(header) + phdr + note


def _fake_bzimage(payload: bytes) -> bytes:
    setup_sects = 1
    image = bytearray((setup_sects + 1) * 512)
    image[0x1F1] = setup_sects
    image[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", image, 0x206, 0x20F)
    struct.pack_into("<II", image, 0x248, 16, len(payload))
    return bytes(image) + b"\x00" * 16 + payload + b"\x00\x01\x02\x03"


@pytest.mark.parametrize("pvh", [True, False])
def test_pvh_kernel_extraction(tmp_path: Path, pvh: bool) -> None:
    elf = _fake_elf(pvh)
    bz = tmp_path / "vmlinuz"
    bz.write_bytes(_fake_bzimage(lzma.compress(elf, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32)))
    out = tmp_path / "vmlinux"
    assert kernelimage.extract_pvh_kernel(bz, out) is pvh
    assert (out.read_bytes() == elf) if pvh else not out.exists()


def test_non_bzimage_is_left_alone(tmp_path: Path) -> None:
    bz = tmp_path / "vmlinuz"
    bz.write_bytes(b"\x00" * 4096)
    assert not kernelimage.extract_pvh_kernel(bz, tmp_path / "vmlinux")


def test_guest_files_are_present() -> None:
    for rel in ("initramfs/init", "rootfs/etc/inittab", "rootfs/etc/vmctl/boot.sh",
                "rootfs/etc/vmctl/seed.sh", "rootfs/etc/vmctl/cloud-config.awk",
                "rootfs/etc/acpi/PWRF/00000080"):
        assert (recipe.FILES_DIR / rel).is_file(), rel
    boot = (recipe.FILES_DIR / "rootfs/etc/vmctl/boot.sh").read_text()
    for line in ("vmctl-guest: hostkey ", "vmctl-guest: hostkey-fingerprint ", "vmctl-guest: boot-finished"):
        assert line in boot


def test_stale_staging_dirs_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_host_tools: None) -> None:
    (tmp_path / ".0123456789abcdef.build-xyz/work").mkdir(parents=True)
    monkeypatch.setattr(build, "_build_into", _fake_build)
    build_tiny_guest(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [recipe_id()]


def test_prune_keeps_only_the_current_recipe(tmp_path):
    from vmctl.tinyguest.build import prune_other_recipes

    for name in ("0123456789abcdef", "fedcba9876543210", "keepme0123456789"[:16]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "done").write_text("")
    (tmp_path / "not-a-recipe").mkdir()
    removed = prune_other_recipes(tmp_path, keep="fedcba9876543210")
    assert removed == ["0123456789abcdef"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fedcba9876543210", "keepme0123456789", "not-a-recipe"]


SEED_SH = recipe.FILES_DIR / "rootfs/etc/vmctl/seed.sh"


def _shells() -> list[list[str]]:
    found = [[sh] for sh in ("sh", "dash") if shutil.which(sh)]
    if shutil.which("busybox"):
        found.append(["busybox", "sh"])  # the guest's own shell
    return found


@pytest.mark.parametrize("shell", _shells(), ids=" ".join)
def test_seed_script_is_posix_sh_without_eval(shell: list[str]) -> None:
    import re
    import subprocess

    text = SEED_SH.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert not re.search(r"\beval\b|\bsource\b|<<", text)
    subprocess.run([*shell, "-n", str(SEED_SH)], check=True)


@pytest.mark.parametrize("shell", _shells(), ids=" ".join)
def test_seed_script_user_name_rule_matches_the_parser(shell: list[str]) -> None:
    """seed.sh checks names again with the rule of cloud-config.awk: ^[a-z_][a-z0-9_-]{0,31}$, never root."""
    import re
    import subprocess

    func = re.search(r"^valid_user\(\) \{\n.*?^\}\n", SEED_SH.read_text(), re.M | re.S)
    assert func is not None
    rule = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
    names = ["alice", "_svc", "a-b_c9", "a" * 32, "a" * 33, "root", "Alice", "../x", "a b", "-x", "9a", "",
             "a*", "a?", "[a]", "a;b", "a'b", 'a"b', "a\nb", "é", "rootx", "x/y"]
    for name in names:
        done = subprocess.run([*shell, "-c", func.group(0) + 'valid_user "$1"', "sh", name])
        expected = bool(rule.fullmatch(name)) and name != "root"
        assert (done.returncode == 0) is expected, name


def test_seed_script_applies_users_only_for_a_new_instance() -> None:
    text = SEED_SH.read_text()
    new_instance = text.index('if [ -z "$iid" ] || [ "$iid" = "$last" ]; then')
    assert new_instance < text.index("\napply_users </dev/null\n") < text.index('mv -f "$HOSTKEY.new" "$HOSTKEY"')
    assert "/etc/shells" in text and '"$1:*:' in text  # shell check; "*" not "!" in /etc/shadow
