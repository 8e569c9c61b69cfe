"""Backup and restore on the real tiny guest, with the backup as untrusted input:
forged definitions (a host file as an extra disk, QEMU arguments, a shared host
directory) and forged manifests are refused with nothing made; a VM whose seed still
holds its private host key is not backed up, and a restored secret seed is retired
after the first verified boot like a created VM's; a restore or backup killed or
stopped at any step leaves nothing half-made once the next vmctl command ran."""

from __future__ import annotations

import hashlib
import json
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from vmctl.errors import Conflict
from vmctl.ops.seed import holds_private_key
from vmctl.testing.pause import PausedVmctl
from vmctl.libvirtxml.facts import parse_domain
from vmctl.virt import domains
from vmctl.testing.ndjson import result

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def ready(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    return vm_name


@pytest.fixture
def backup(api, ready, tmp_path) -> Path:
    api.backup(ready, tmp_path / "bk")
    return tmp_path / "bk"


def forge(src: Path, dest: Path, edit: Callable[[str], str]) -> Path:
    """A copy of ``src`` with its domain.xml edited and the manifest made to match, as a
    forger would: the checksums alone cannot catch it."""
    shutil.copytree(src, dest)
    xml = edit((dest / "domain.xml").read_text()).encode()
    (dest / "domain.xml").write_bytes(xml)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["files"]["domain.xml"].update(size=len(xml), sha256=hashlib.sha256(xml).hexdigest())
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def add_device(device: str) -> Callable[[str], str]:
    return lambda xml: xml.replace("</devices>", device + "</devices>", 1)


def add_qemu_args(*args: str) -> Callable[[str], str]:
    def edit(xml: str) -> str:
        assert "</qemu:commandline>" in xml  # vmctl's own user-mode NIC is there
        return xml.replace("</qemu:commandline>",
                           "".join(f"<qemu:arg value='{a}'/>" for a in args) + "</qemu:commandline>")
    return edit


def test_forged_definitions_are_refused_with_nothing_made(api, backup, tmp_path, leftovers):
    secret = tmp_path / "host-secret.img"
    secret.write_bytes(b"a file of this host\n" * 1024)
    forgeries = {
        "extra-disk": (add_device(f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                                  f"<source file='{secret}'/><target dev='vdz' bus='virtio'/></disk>"),
                       ["<disk device='disk'> vdz: not one of the backed-up disks", f"<source file='{secret}'>"]),
        "qemu-commandline": (add_qemu_args("-fw_cfg", f"name=opt/secret,file={secret}"),
                             ["<qemu:commandline>: arguments that are not vmctl's own user-mode NIC",
                              f"name=opt/secret,file={secret}"]),
        "filesystem": (add_device(f"<filesystem type='mount' accessmode='passthrough'><source dir='{tmp_path}'/>"
                                  "<target dir='hostshare'/></filesystem>"),
                       ["<filesystem>: shares a host directory with the guest"]),
    }
    before = leftovers()
    for i, (label, (edit, named)) in enumerate(forgeries.items()):
        forged = forge(backup, tmp_path / label, edit)
        new = f"{backup_vm_name(backup)}-f{i}"
        proc = vmctl("restore", str(forged), "--name", new)
        assert proc.returncode == 3, proc.stderr  # invalid input
        assert "cannot be restored" in proc.stderr and "nothing was made" in proc.stderr, proc.stderr
        for text in named:
            assert text in proc.stderr, (label, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert not domains.exists(api.host, new)
        assert leftovers() == before, label


def backup_vm_name(backup: Path) -> str:
    return json.loads((backup / "manifest.json").read_text())["vm"]


def test_forged_manifests_and_symlinks_are_refused_with_nothing_made(api, backup, tmp_path, leftovers):
    before = leftovers()
    new = f"{backup_vm_name(backup)}-m"
    escape = tmp_path / "escape"
    shutil.copytree(backup, escape)
    manifest = json.loads((escape / "manifest.json").read_text())
    manifest["files"]["../host-secret.img"] = manifest["files"].pop("disk-vda.qcow2")
    (escape / "manifest.json").write_text(json.dumps(manifest))
    (escape / "disk-vda.qcow2").unlink()
    proc = vmctl("restore", str(escape), "--name", new)
    assert proc.returncode == 3 and "'../host-secret.img', which is not a file inside the backup" in proc.stderr

    linked = tmp_path / "linked"
    shutil.copytree(backup, linked)
    host_file = tmp_path / "host-disk.qcow2"
    shutil.move(linked / "disk-vda.qcow2", host_file)  # same bytes, so the checksum matches
    (linked / "disk-vda.qcow2").symlink_to(host_file)
    proc = vmctl("restore", str(linked), "--name", new)
    assert proc.returncode == 3 and "disk-vda.qcow2" in proc.stderr and "not a regular file" in proc.stderr
    assert not domains.exists(api.host, new) and leftovers() == before


def test_a_vm_whose_seed_holds_its_private_key_is_not_backed_up_and_a_restored_one_is_retired(
        api, tiny, vm_name, tmp_path, monkeypatch):
    api.create(vm_name, start=False)  # made, never booted: its seed still holds its private host key
    with pytest.raises(Conflict) as err:
        api.backup(vm_name, tmp_path / "bk")
    assert "still holds its private host key" in err.value.message and f"vmctl start {vm_name}" in err.value.hint
    assert list(tmp_path.iterdir()) == []  # no backup, no half-written one

    # A backup an earlier vmctl made of such a VM: it carries the secret seed.
    import vmctl.ops.backup as backup_ops
    monkeypatch.setattr(backup_ops, "has_secret_seed", lambda _volumes, _name: False)
    api.backup(vm_name, tmp_path / "old")
    monkeypatch.undo()
    assert [holds_private_key(iso) for iso in (tmp_path / "old").glob("disk-*.iso")] == [True]
    copy = f"{vm_name}-r"
    try:
        restored = api.restore(tmp_path / "old", name=copy)
        volumes = api.vms.info_meta(copy).volumes
        assert f"{copy}-seed.iso" in volumes, volumes  # recorded as a secret seed, as for a created VM
        assert restored.ssh_host_key == api.info(vm_name).ssh_host_key
        api.start(copy, wait_boot=True)
        api.wait(copy, until="ssh")  # authenticated against the pinned key: the seed is retired
        volumes = api.vms.info_meta(copy).volumes
        assert f"{copy}-cidata.iso" in volumes and f"{copy}-seed.iso" not in volumes, volumes
        pool = api.pools.ensure()
        pool.refresh()
        assert not pool.has_volume(f"{copy}-seed.iso")
        assert not holds_private_key(Path(pool.path) / f"{copy}-cidata.iso")
    finally:
        if domains.exists(api.host, copy):
            api.delete(copy)


RESTORE_POINTS = ["restore:disks", "restore:uploaded", "restore:defined"]


@pytest.mark.parametrize("point", RESTORE_POINTS)
def test_restore_killed_at_each_step_leaves_nothing_once_the_next_command_ran(api, backup, tmp_path, leftovers,
                                                                               point):
    before = leftovers()
    new = f"{backup_vm_name(backup)}-k"
    held = PausedVmctl(["restore", str(backup), "--name", new], point, tmp_path)
    domains_now, volumes_now = leftovers()  # half-made when it is killed (checked while it waits there)
    assert f"{new}-vda.qcow2" in volumes_now and (new in domains_now) == (point == "restore:defined")
    assert held.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    if point == "restore:defined":  # the next restore of that name undoes the dead one, then restores
        proc = vmctl("restore", str(backup), "--name", new, "--json")
        assert proc.returncode == 0, proc.stderr
        assert result(proc.stdout)["name"] == new
        assert vmctl("delete", new).returncode == 0
    else:
        proc = vmctl("repair", new)
        assert proc.returncode == 0, proc.stderr
    assert not domains.exists(api.host, new)
    assert leftovers() == before


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_backup_stopped_half_way_leaves_no_partial_copy(api, ready, tmp_path, leftovers, sig):
    """SIGTERM: the operation's undo removes the half-written backup; SIGKILL: the next
    command (here `vmctl repair`) does, from the intent record."""
    work = tmp_path / "work"
    work.mkdir()
    before = leftovers()
    held = PausedVmctl(["backup", ready, str(work / "bk")], "backup:copied", tmp_path)
    assert [p.name for p in work.iterdir() if ".partial-" in p.name]  # half-written, not yet in place
    code, _seconds, err = held.stop(sig)
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL and [p for p in work.iterdir() if ".partial-" in p.name]
        proc = vmctl("repair", ready)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    else:  # unwound by the operation's undo steps before it exited
        assert code == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert list(work.iterdir()) == []
    assert not list(Path(api.pools.ensure().path).glob(f".{ready}.partial-*"))  # nor the copy QEMU wrote there
    assert leftovers() == before


def test_a_uefi_vm_restores_with_its_own_nvram_and_boots(api, vm_name, tmp_path):
    """The template cleaning on a real UEFI definition: the copy gets its own NVRAM file
    (not the original's) and boots from the restored disk."""
    api.build_tinydisk()
    api.create(vm_name, image="tinydisk", template="linux-q35-uefi", memory="512M", wait_boot=True)
    api.backup(vm_name, tmp_path / "bk")
    copy = f"{vm_name}-u"
    try:
        api.restore(tmp_path / "bk", name=copy)
        original = parse_domain(domains.lookup(api.host, vm_name).xml(inactive=True))
        restored = parse_domain(domains.lookup(api.host, copy).xml(inactive=True))
        assert restored.nvram and {d.path for d in restored.disks}.isdisjoint({d.path for d in original.disks})
        api.start(copy, wait_boot=True)
        live = domains.lookup(api.host, copy).xml()  # libvirt names the NVRAM file here
        assert f"{copy}_VARS" in live and f"{vm_name}_VARS" not in live
        assert f"{vm_name}_VARS" in domains.lookup(api.host, vm_name).xml()
    finally:
        if domains.exists(api.host, copy):
            api.delete(copy)
