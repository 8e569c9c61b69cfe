"""Importing a user's image, using it, and the in-use rule for removal."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from vmctl.cli.app import run
from vmctl.testing.ndjson import split


def test_import_use_and_remove(api, tiny, vm_name, leftovers, capsys, tmp_path: Path):
    before = leftovers()
    src = tmp_path / "cloud.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(src), "64M"], check=True, capture_output=True)
    image_name = f"{vm_name}-img"
    assert run(["image", "import", str(src), "--name", image_name, "--user", "debian", "--json"]) == 0
    events, image = split(capsys.readouterr().out)
    assert events[-2:-1] == [{"event": "progress", "stage": "copying cloud.qcow2", "done": src.stat().st_size,
                              "total": src.stat().st_size}] and events[-1]["stage"] == "checking the copy"
    assert (image["format"], image["virtual_size"], image["default_user"]) == ("qcow2", 64 << 20, "debian")
    assert Path(image["path"]).stat().st_mode & 0o777 == 0o444  # bases are read-only

    assert run(["image", "list", "--json"]) == 0
    assert image_name in {i["name"] for i in json.loads(capsys.readouterr().out)}

    vm = api.create(vm_name, image=image_name, start=False)
    assert (vm.template, vm.ssh_user, vm.disks[0].base_image) == ("linux-q35", "debian", image_name)
    assert run(["image", "rm", image_name, "--json"]) == 5
    assert vm_name in json.loads(capsys.readouterr().out)["error"]["message"]

    api.delete(vm_name)
    assert Path(image["path"]).exists()  # deleting a VM never removes its base
    assert run(["image", "rm", image_name]) == 0
    assert leftovers() == before


def test_raw_import(api, tiny, vm_name, leftovers, tmp_path: Path):
    before = leftovers()
    src = tmp_path / "disk.img"
    src.write_bytes(b"\0" * (1 << 20))
    name = f"{vm_name}-raw"  # a journaled name: leftovers() counts what would be left of it
    image = api.import_image(src, name=name)
    try:
        assert image.format == "raw" and image.virtual_size == 1 << 20
        assert api.images.get(name) == image
    finally:
        api.remove_image(name)
    assert leftovers() == before
