"""Locks, ownership, untrusted images, early refusals, secrets and upgrades, on the real
libvirtd + QEMU + tiny guest (issue: operations that survive kills, concurrency and bad state)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.errors import Busy, Conflict
from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains

VMCTL = [sys.executable, "-m", "vmctl"]


def test_second_create_of_a_name_is_busy_at_once(api, tiny, vm_name, tmp_path, capsys):
    first = PausedVmctl(["create", vm_name, "--no-start"], "create:seed", tmp_path)
    try:
        started = time.monotonic()
        assert run(["create", vm_name, "--no-start"]) == 10
        assert time.monotonic() - started < 5
        err = capsys.readouterr().err
        assert f"{vm_name} is busy: create by pid {first.pid}" in err and "since" in err
    finally:
        done = first.resume()
    assert done.returncode == 0, done.stderr
    assert domains.exists(api.host, vm_name)


def test_second_operation_on_one_vm_is_busy_and_a_killed_owner_frees_it(api, tiny, vm_name, tmp_path, capsys):
    api.create(vm_name, start=False)
    holder = PausedVmctl(["delete", vm_name], "delete:recorded", tmp_path)
    try:
        for argv in (["start", vm_name], ["stop", vm_name], ["delete", vm_name], ["destroy", vm_name]):
            assert run(argv) == 10, argv
            assert f"busy: delete by pid {holder.pid}" in capsys.readouterr().err
        with pytest.raises(Busy):
            api.start(vm_name)
    finally:
        holder.kill()  # SIGKILL: the lock must not outlive its owner
    assert run(["start", vm_name]) == 4  # the dead delete was finished first: the VM is gone
    assert "no VM named" in capsys.readouterr().err
    assert not api.pools.ensure().has_volume(f"{vm_name}.intent.json")


def test_a_lock_held_by_another_client_machine(api, tiny, vm_name, tmp_path, capsys):
    """Another machine's vmctl (its heartbeat is fresh): Busy, whatever our pids say."""
    from vmctl.ops.safety.intents import begin, decode

    api.create(vm_name, start=False)
    other = PausedVmctl(["delete", vm_name], "delete:recorded", tmp_path,
                        env={"VMCTL_TEST_MACHINE_ID": "another-host"})
    try:
        record = decode(api.pools.ensure().download(f"{vm_name}.intent.json"))  # two copies: the newest
        assert record.owner.machine == "another-host"
        assert run(["start", vm_name]) == 10
        assert "busy: delete" in capsys.readouterr().err
        with pytest.raises(Busy):
            begin(api.pools.ensure(), "start", vm_name, repair=lambda r: pytest.fail("repaired a live lock"))
    finally:
        done = other.resume()
    assert done.returncode == 0, done.stderr


def test_first_run_key_generation_race_gives_one_pair(tmp_path):
    code = ("import sys; from pathlib import Path; from vmctl.ssh.keys import ensure_user_key, public_line_of\n"
            "p = ensure_user_key(Path(sys.argv[1])); print(public_line_of(p))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "keys")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(8)]
    lines = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert len(lines) == 1  # every process saw the same pair
    pub = (tmp_path / "keys" / "id_ed25519.pub").read_text().split()[:2]
    assert " ".join(pub) == lines.pop()
    assert oct((tmp_path / "keys" / "id_ed25519").stat().st_mode & 0o777) == "0o600"


def test_delete_refuses_a_volume_something_else_uses(api, tiny, vm_name, capsys):
    from vmctl.libvirtxml.storage import volume_xml

    api.create(vm_name, start=False)
    pool = api.pools.ensure()
    disk = f"{pool.path}/{vm_name}-vda.qcow2"
    overlay = f"{vm_name}-overlay.qcow2"
    pool.create_volume(volume_xml(overlay, 1 << 30, "qcow2", backing_path=disk, backing_format="qcow2"))
    try:
        before = ({r.name for r in domains.list_all(api.host)}, set(pool.volume_names()))
        assert run(["delete", vm_name]) == 5
        err = capsys.readouterr().err
        assert f"{vm_name}-vda.qcow2 is used by volume {overlay}" in err and "nothing was changed" in err
        assert ({r.name for r in domains.list_all(api.host)}, set(pool.volume_names())) == before
    finally:
        pool.delete_volume(overlay)
    assert api.delete(vm_name) == [disk, f"{pool.path}/{vm_name}-seed.iso"]


def test_delete_refuses_a_disk_another_domain_uses(api, tiny, vm_name):
    api.create(vm_name, start=False)
    other = f"{vm_name}-b"
    api.create(other, start=False)
    pool = api.pools.ensure()
    xml = domains.lookup(api.host, other).xml(inactive=True).replace(f"{other}-vda.qcow2", f"{vm_name}-vda.qcow2")
    domains.define(api.host, xml)  # the second VM now boots from the first one's disk
    with pytest.raises(Conflict, match=f"{vm_name}-vda.qcow2 is used by VM {other}"):
        api.delete(vm_name)
    assert domains.exists(api.host, vm_name) and pool.has_volume(f"{vm_name}-vda.qcow2")
    with pytest.raises(Conflict):
        api.delete(other)  # and the other way round
    domains.lookup(api.host, other).undefine()
    pool.delete_volume(f"{other}-vda.qcow2")
    pool.delete_volume(f"{other}-seed.iso")


def test_import_checks_the_copy_in_the_pool_not_the_file_it_read(api, vm_name, tmp_path):
    """The file is swapped between vmctl's inspection and its upload: the copy that
    landed in the pool (a qcow2 with a backing file) is what is refused."""
    image, evil = tmp_path / "img.qcow2", tmp_path / "evil.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "64M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/shadow", "-F", "raw", str(evil), "64M"],
                   check=True)
    name = f"{vm_name}-img"
    held = PausedVmctl(["image", "import", str(image), "--name", name], "image-import:locked", tmp_path)
    os.replace(evil, image)  # after the inspection, before the upload
    done = held.resume()
    assert done.returncode == 3, done.stderr
    assert "backing file" in done.stderr and "/etc/shadow" in done.stderr
    assert [v for v in api.pools.ensure().volume_names() if name in v] == []


@pytest.mark.parametrize("argv,code,message", [
    (["--no-start", "--wait", "ssh"], 3, "cannot be waited for"),
    (["--no-start", "--wait", "boot"], 3, "cannot be waited for"),
    (["--disk", "64M"], 3, "smaller than image"),
    (["--template", "linux"], 3, "needs direct kernel boot"),
])
def test_what_cannot_work_is_refused_before_anything_is_made(api, tiny, vm_name, leftovers, capsys, argv, code,
                                                            message):
    before = leftovers()
    started = time.monotonic()
    assert run(["create", vm_name, *argv]) == code
    assert message in capsys.readouterr().err
    assert time.monotonic() - started < 10 and leftovers() == before


def test_user_other_than_root_logs_in_on_tiny(api, tiny, vm_name):
    api.create(vm_name, user="alice", wait_boot=True, wait_ssh=True)
    out: list[bytes] = []
    assert api.exec(vm_name, ["id", "-un"], out=out.append) == 0
    assert b"".join(out).strip() == b"alice"


def test_private_host_key_leaves_the_host_after_first_boot(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True)
    pool = api.pools.ensure()
    volumes = set(pool.volume_names())
    assert f"{vm_name}-seed.iso" not in volumes and f"{vm_name}-cidata.iso" in volumes
    xml = domains.lookup(api.host, vm_name).xml()
    assert f"{vm_name}-cidata.iso" in xml and f"{vm_name}-seed.iso" not in xml
    assert api.vms.info_meta(vm_name).volumes == (f"{vm_name}-vda.qcow2", f"{vm_name}-cidata.iso")
    seed = pool.download(f"{vm_name}-cidata.iso")
    assert b"PRIVATE KEY" not in seed and b"instance-id" in seed
    # The guest keeps the key it took at first boot: after a restart the pinned key still matches.
    api.stop(vm_name, force=True)
    api.start(vm_name, wait_boot=True)
    assert api.exec(vm_name, ["true"]) == 0
    assert set(api.delete(vm_name)) == {f"{pool.path}/{vm_name}-vda.qcow2", f"{pool.path}/{vm_name}-cidata.iso"}


def test_a_vm_created_without_waiting_loses_its_seed_secret_at_first_contact(api, tiny, vm_name):
    api.create(vm_name)
    assert f"{vm_name}-seed.iso" in api.pools.ensure().volume_names()
    api.wait(vm_name, until="ssh")
    assert f"{vm_name}-seed.iso" not in api.pools.ensure().volume_names()


def test_env_values_stay_off_both_process_lists(api, tiny, vm_name, tmp_path):
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    secret = "s3cret-" + os.urandom(4).hex()
    env = {**os.environ, "APP_TOKEN": secret}
    proc = subprocess.Popen([*VMCTL, "exec", "-n", "-e", "APP_TOKEN", vm_name, "--", "sh", "-c",
                             'sleep 3; printf %s "$APP_TOKEN"'], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)  # the command runs in the guest now
        assert secret not in Path(f"/proc/{proc.pid}/cmdline").read_text()
        out: list[bytes] = []
        assert api.exec(vm_name, ["ps", "-o", "args"], out=out.append) == 0
        listing = b"".join(out).decode()
        assert "sleep 3" in listing and secret not in listing
        assert api.exec(vm_name, ["sh", "-c", "ls -a ~"], out=out.append) == 0
    finally:
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert stdout == secret


def test_sigterm_during_the_boot_wait_undoes_the_create(api, tiny, vm_name, tmp_path):
    held = PausedVmctl(["create", vm_name, "--wait", "boot"], "create:started", tmp_path)
    held.release()  # let it go on into the boot wait
    time.sleep(1.0)
    code, seconds, err = held.stop(signal.SIGTERM)
    assert code == 143, err
    print(f"SIGTERM to exit, create undone: {seconds:.2f} s")  # measured in bench/reliability.py
    assert not domains.exists(api.host, vm_name)
    assert [v for v in api.pools.ensure().volume_names() if vm_name in v] == []


def test_new_tiny_recipe_installs_next_to_the_old_build(api, tiny, vm_name, monkeypatch):
    """A new recipe: 'tiny' points at the new build, a VM of the old one keeps working,
    the old build goes once no VM uses it (repair), and setup stays idempotent."""
    import vmctl.tinyguest as tinyguest
    from vmctl.ops.tiny import build_name

    old_build = build_name(tiny.recipe_id)
    api.create(vm_name, wait_boot=True, wait_ssh=True)
    real_build = tinyguest.build_tiny_guest
    monkeypatch.setattr(tinyguest, "recipe_id", lambda: "feedfacefeedface")
    monkeypatch.setattr(tinyguest, "build_tiny_guest",
                        lambda root, progress=None: replace(real_build(root, progress=progress),
                                                            recipe_id="feedfacefeedface"))
    try:
        image, changed = api.build_tiny()
        assert changed and image.name == "tiny" and image.recipe_id == "feedfacefeedface"
        assert api.build_tiny() == (image, False)  # idempotent
        names = {i.name for i in api.list_images()}
        assert {"tiny", old_build, "tiny-feedface"} <= names
        assert api.exec(vm_name, ["true"]) == 0  # the VM of the old build still works
        api.stop(vm_name, force=True)
        api.start(vm_name, wait_boot=True)
        api.delete(vm_name)
        report = api.repair()
        assert report.images_removed == [old_build]
    finally:
        monkeypatch.undo()
        restored, _ = api.build_tiny()  # back to the real recipe (re-imported from the build cache)
        api.repair()
    assert restored.recipe_id == tiny.recipe_id
    assert "tiny-feedface" not in {i.name for i in api.list_images()}
