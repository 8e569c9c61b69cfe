"""Volumes are removed only when nothing on any known host uses them (issue 13, items
1 and 3; docs/when-things-go-wrong.md).

- A VM on shared storage defined on two lab hosts (what ``migrate --keep-source``
  leaves): ``vmctl delete`` on one host removes that definition and keeps the disks
  the other host's guest runs on, saying why.
- A user's image named ``tiny-debian`` is not a build of tiny: ``vmctl image build
  tiny`` and ``vmctl repair`` prune retired builds (recognised by their recorded
  recipe id) and leave it alone. This runs in a pool of its own, so no other test
  run's repair meets these images.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.testing.lab.testlab import LabView, migration_lab
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import find_pool

REPO = Path(__file__).resolve().parents[2]


def new_name() -> str:
    return f"t-{os.getpid():x}-{secrets.token_hex(3)}"


def vmctl(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vmctl", *args], env={**os.environ, "PYTHONPATH": str(REPO), **env},
                          capture_output=True, text=True, timeout=600)


# --- shared storage: a definition on two hosts ------------------------------------
@pytest.fixture(scope="module")
def lab(api: Vmctl) -> Iterator[LabView]:
    with migration_lab(2) as view:
        yield view


def test_delete_keeps_disks_a_vm_on_another_host_runs_on(lab: LabView):
    name = new_name()
    with Vmctl(lab.host("lab1").uri, pool="shared") as a:
        a.create(name, start=False)
        xml = domains.lookup(a.host, name).xml(inactive=True)
    disks = lab.vm_files("lab1", name, "shared")
    assert disks == {f"{name}-vda.qcow2", f"{name}-seed.iso"}
    with Host(lab.local_uri("lab2")) as b:  # as `migrate --keep-source` leaves it: the guest runs on lab2
        domains.define(b, xml).start()
    env = {"VMCTL_POOL": "shared", "VMCTL_LAB_DIR": str(lab.lab.root)}

    done = vmctl("-c", lab.host("lab1").uri, "delete", name, "--json", **env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["volumes"] == []  # no disk removed
    assert f"{name}-vda.qcow2 is used by VM {name} on lab2" in json.loads(done.stdout)["notes"][0]
    assert lab.where(name) == ["lab2"] and lab.domains("lab2")[name] == ("running", True)
    assert lab.vm_files("lab1", name, "shared") == disks  # the guest on lab2 keeps its disks

    # the plain output says why, on stderr
    with Host(lab.local_uri("lab1")) as a:
        domains.define(a, xml)
    done = vmctl("-c", lab.host("lab1").uri, "delete", name, **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"deleted {name}"
    assert f"{name}: kept the volumes other hosts' VMs use: {name}-seed.iso is used by VM {name} on lab2" \
           in done.stderr
    assert lab.where(name) == ["lab2"] and lab.vm_files("lab1", name, "shared") == disks

    # once no other host has it, delete removes the disks
    done = vmctl("-c", lab.host("lab2").uri, "delete", name, "--json", **env)
    assert done.returncode == 0, done.stderr
    assert sorted(Path(p).name for p in json.loads(done.stdout)["volumes"]) == sorted(disks)
    assert lab.where(name) == [] and lab.vm_files("lab1", name, "shared") == set()


def test_image_rm_refuses_an_image_a_vm_on_another_host_uses(lab: LabView, tmp_path: Path):
    """An image in shared storage that a VM running on the other host is backed by stays
    (this host's ImageStore.users sees only this host's domains)."""
    image, name = f"{new_name()}-img", new_name()
    src = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "16M"], check=True, timeout=60)
    env = {"VMCTL_POOL": "shared", "VMCTL_LAB_DIR": str(lab.lab.root)}
    assert vmctl("-c", lab.host("lab1").uri, "image", "import", str(src), "--name", image, **env).returncode == 0
    with Vmctl(lab.host("lab2").uri, pool="shared") as b:
        b.pools.ensure().refresh()  # lab2's libvirt learns of the volumes lab1 made in the shared directory
        b.create(name, image=image, template="linux-q35")  # running: its backing chain is in its live XML
    try:
        done = vmctl("-c", lab.host("lab1").uri, "image", "rm", image, **env)
        assert done.returncode != 0
        assert f"{image}.base.qcow2 is used by VM {name} on lab2, volume {name}-vda.qcow2 (backed by it)" \
            in done.stderr and "nothing was changed" in done.stderr
        assert {f"{image}.base.json", f"{image}.base.qcow2"} <= lab.files("lab1", "shared")
    finally:
        with Vmctl(lab.host("lab2").uri, pool="shared") as b:
            b.delete(name)
    done = vmctl("-c", lab.host("lab1").uri, "image", "rm", image, **env)
    assert done.returncode == 0, done.stderr
    assert not {f for f in lab.files("lab1", "shared") if f.startswith(image)}


# --- tiny-* user images ----------------------------------------------------------------
@pytest.fixture
def own_pool(api: Vmctl) -> Iterator[dict[str, str]]:
    """A pool of this test's own (name and directory carry this run's marker)."""
    name = new_name()
    path = Path("/var/lib/vmctl") / f"{name}-pool"
    env = {"VMCTL_POOL": name, "VMCTL_POOL_PATH": str(path)}
    try:
        yield env
    finally:
        pool = find_pool(api.host, name)
        if pool is not None:
            for volume in pool.volume_names():
                pool.delete_volume(volume)
        for pool_obj in api.host.conn.listAllStoragePools(0):  # the pool vmctl defined for it
            if pool_obj.name() == name:
                if pool_obj.isActive():
                    pool_obj.destroy()
                pool_obj.undefine()
        shutil.rmtree(path, ignore_errors=True)


def test_user_image_named_tiny_something_survives_build_and_repair(api: Vmctl, own_pool, tmp_path: Path):
    src = tmp_path / "debian.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "16M"], check=True, timeout=60)
    assert vmctl("image", "build", "tiny", **own_pool).returncode == 0
    done = vmctl("image", "import", str(src), "--name", "tiny-debian", **own_pool)
    assert done.returncode == 0, done.stderr
    # a retired build of tiny (as an older recipe left it): pruned, unlike the user's image
    retired = "0123abcd" + secrets.token_hex(4)
    with Vmctl(pool=own_pool["VMCTL_POOL"], pool_path=own_pool["VMCTL_POOL_PATH"]) as v:
        v.images.import_file(src, name=f"tiny-{retired[:8]}", recipe_id=retired)

    done = vmctl("image", "build", "tiny", **own_pool)
    assert done.returncode == 0, done.stderr
    listed = {i["name"] for i in json.loads(vmctl("image", "list", "--json", **own_pool).stdout)}
    assert "tiny-debian" in listed and f"tiny-{retired[:8]}" not in listed

    with Vmctl(pool=own_pool["VMCTL_POOL"], pool_path=own_pool["VMCTL_POOL_PATH"]) as v:
        v.images.import_file(src, name=f"tiny-{retired[:8]}", recipe_id=retired)
    done = vmctl("repair", "--json", **own_pool)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images_removed"] == [f"tiny-{retired[:8]}"]
    listed = {i["name"] for i in json.loads(vmctl("image", "list", "--json", **own_pool).stdout)}
    assert {"tiny", "tiny-debian"} <= listed and f"tiny-{retired[:8]}" not in listed
    with Vmctl(pool=own_pool["VMCTL_POOL"], pool_path=own_pool["VMCTL_POOL_PATH"]) as v:
        assert v.images.get("tiny-debian").path.endswith("/tiny-debian.base.qcow2")


def test_image_rm_refuses_volumes_that_are_not_the_recorded_ones(api: Vmctl, own_pool, tmp_path: Path):
    """A volume put in the place of an image's disk (same name) is not removed by
    `image rm`: its size differs from the recorded one, or it was written after the
    image's description (the stamp: policy.ownership.Expected)."""
    from vmctl.libvirtxml.storage import volume_xml

    src = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(src), "16M"], check=True, timeout=60)
    for image in ("t-other-size", "t-same-size"):
        assert vmctl("image", "import", str(src), "--name", image, **own_pool).returncode == 0
    with Vmctl(pool=own_pool["VMCTL_POOL"], pool_path=own_pool["VMCTL_POOL_PATH"]) as v:
        pool = v.pools.ensure()
        for image, size in (("t-other-size", 32 << 20), ("t-same-size", 16 << 20)):
            pool.delete_volume(f"{image}.base.qcow2")
            pool.create_volume(volume_xml(f"{image}.base.qcow2", size, "qcow2"))

    done = vmctl("image", "rm", "t-other-size", **own_pool)
    assert done.returncode != 0
    assert "not the volume vmctl recorded (t-other-size.base.qcow2: its size is 33554432 bytes, the record says " \
           "16777216)" in done.stderr and "nothing was changed" in done.stderr
    done = vmctl("image", "rm", "t-same-size", **own_pool)
    assert done.returncode != 0
    assert "t-same-size.base.qcow2: it was written after vmctl recorded it" in done.stderr
    with Vmctl(pool=own_pool["VMCTL_POOL"], pool_path=own_pool["VMCTL_POOL_PATH"]) as v:
        names = set(v.pools.ensure().volume_names())
    assert {f"{i}.base.{s}" for i in ("t-other-size", "t-same-size") for s in ("json", "qcow2")} <= names
