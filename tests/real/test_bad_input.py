"""Bad input on a real host: a clear error (exit code, message, hint) and
nothing left behind: no domain, no volume."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.ops.templates import builtin_dir
from vmctl.testing.ndjson import result


def fails(argv: list[str], code: int, message: str, capsys) -> dict:
    assert run([*argv, "--json"]) == code
    error = json.loads(capsys.readouterr().out)["error"]
    assert message in error["message"], error
    assert error["hint"] and error["exit_code"] == code
    return error


@pytest.mark.parametrize("extra,code,message", [
    (["--memory", "lots"], 3, "invalid memory"),
    (["--memory", "16M"], 3, "too small"),
    (["--disk", "1M"], 3, "smaller than image"),
    (["--disk", "2PB"], 3, "invalid disk size"),
    (["--disk", "100T"], 6, "not enough space"),
    (["--image", "nope"], 4, "no image named 'nope'"),
    (["--template", "nope"], 4, "no template named 'nope'"),
    (["--accel", "warp"], 3, "invalid accelerator"),
    (["--accel", "kvm"], 7, "KVM requested but not usable"),
    (["--nested"], 7, "nested virtualization is not available"),
    (["--wait", "forever"], 3, "invalid --wait"),
    (["--user", "Root;rm"], 3, "invalid user name"),
    (["--template", "linux"], 3, "needs direct kernel boot"),
])
def test_create_refuses_bad_options(tiny, vm_name, leftovers, capsys, extra, code, message):
    before = leftovers()
    fails(["create", vm_name, *extra], code, message, capsys)
    assert leftovers() == before


@pytest.mark.parametrize("name", ["Bad", "a b", "../etc", "x<y>", "a;reboot", "x-", "x" * 64])
def test_create_refuses_bad_names(tiny, leftovers, capsys, name):
    before = leftovers()
    fails(["create", name], 3, "invalid VM name", capsys)
    assert leftovers() == before


def test_duplicate_name_leaves_the_first_vm_alone(api, tiny, vm_name, leftovers, capsys):
    api.create(vm_name)
    before = leftovers()
    fails(["create", vm_name], 5, "already exists", capsys)
    assert leftovers() == before and api.info(vm_name).state == "running"


def test_hostile_template_refused(tiny, vm_name, leftovers, capsys, tmp_path: Path):
    before = leftovers()
    evil = tmp_path / "evil.xml"
    evil.write_text('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/shadow">]><domain><name>&x;</name></domain>')
    fails(["create", vm_name, "--template", str(evil)], 3, "DOCTYPE", capsys)
    broken = tmp_path / "broken.xml"
    broken.write_text((builtin_dir() / "linux-direct.xml").read_text().replace("<on_crash>destroy", "<on_crash>boom"))
    fails(["create", vm_name, "--template", str(broken)], 3, "schema", capsys)
    assert leftovers() == before


def test_failure_after_storage_was_made_is_undone(tiny, vm_name, leftovers, capsys, tmp_path: Path):
    """A template libvirt itself rejects at define time: the disk and seed volumes
    made before that must be gone again."""
    before = leftovers()
    # (A template's <emulator> is dropped as another host's path; an IDE controller on
    # q35 passes the schema and pre-flight, and libvirt refuses it at define.)
    bad = tmp_path / "bad-ide.xml"
    bad.write_text((builtin_dir() / "linux-direct.xml").read_text().replace('machine="pc"', 'machine="q35"').replace(
        "<devices>", '<devices>\n    <controller type="ide" index="0"/>'))
    assert run(["create", vm_name, "--template", str(bad), "--json"]) == 8
    message = result(capsys.readouterr().out)["error"]["message"]  # after the stages reached
    assert message.startswith("template 'bad-ide': <controller type='ide'> / <disk bus='ide'>: libvirt refused "
                              "to define it: ")
    assert leftovers() == before


def test_state_errors(api, tiny, vm_name, capsys):
    fails(["info", "ghost-vm"], 4, "no VM named", capsys)
    fails(["delete", "ghost-vm"], 4, "no VM named", capsys)
    api.create(vm_name, start=False)
    fails(["stop", vm_name], 5, "shut off", capsys)
    fails(["reboot", vm_name], 5, "shut off", capsys)


def test_image_import_refuses_unsafe_images(tiny, vm_name, leftovers, capsys, tmp_path: Path):
    before = leftovers()
    evil = f"{vm_name}-evil"  # a journaled name: leftovers() counts what would be left of it
    base, top = tmp_path / "base.qcow2", tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(base), "16M"], check=True, capture_output=True)
    subprocess.run(["qemu-img", "create", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(top)],
                   check=True, capture_output=True)
    fails(["image", "import", str(top), "--name", evil], 3, "backing file", capsys)
    fails(["image", "import", str(base), "--name", evil, "--format", "raw"], 3, "qcow2 header", capsys)
    fails(["image", "import", str(tmp_path / "missing.qcow2")], 4, "no image file", capsys)
    fails(["image", "import", str(base), "--name", "tiny"], 5, "already exists", capsys)
    fails(["image", "rm", f"{vm_name}-ghost"], 4, "no image named", capsys)
    assert leftovers() == before
