"""The hosts inventory file (vmctl.local.inventory, vmctl.ops.inventory): where it is, 0600,
atomic rewrites, concurrent adds from processes and threads all kept, secrets refused."""

from __future__ import annotations

import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.local.inventory import inventory_path, read_inventory
from vmctl.ops.inventory import add_host, host_uri, list_hosts, remove_host, set_drained


@pytest.fixture
def hosts_file(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "ci" / "hosts.yaml"
    monkeypatch.setenv("VMCTL_HOSTS", str(path))
    return path


def test_the_file_is_in_the_user_config_dir_unless_vmctl_hosts_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv("VMCTL_HOSTS", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert inventory_path() == tmp_path / "config" / "vmctl" / "hosts.yaml"
    add_host("hv1", "qemu+ssh://root@hv1/system")
    assert (tmp_path / "config" / "vmctl" / "hosts.yaml").is_file()
    monkeypatch.setenv("VMCTL_HOSTS", str(tmp_path / "other.yaml"))
    assert inventory_path() == tmp_path / "other.yaml" and list_hosts().hosts == ()


def test_add_ls_resolve_rm(hosts_file):
    assert list_hosts().hosts == () and not hosts_file.exists()  # a missing file is an empty inventory
    add_host("hv1", "qemu+ssh://root@hv1/system", {"rack": "a"})
    add_host("t", "test:///default")
    inventory = list_hosts()
    assert inventory.path == hosts_file
    assert [(h.name, h.uri, h.labels) for h in inventory.hosts] == [
        ("hv1", "qemu+ssh://root@hv1/system", (("rack", "a"),)), ("t", "test:///default", ())]
    assert host_uri("t") == "test:///default"
    assert remove_host("hv1").name == "hv1"
    assert [h.name for h in list_hosts().hosts] == ["t"]
    with pytest.raises(NotFound, match="no host 'hv1'") as caught:
        host_uri("hv1")
    assert "t (`vmctl host ls`)" in caught.value.hint
    with pytest.raises(NotFound):
        remove_host("hv1")
    with pytest.raises(Conflict):
        add_host("t", "qemu:///system")
    assert host_uri("t") == "test:///default"


def test_written_0600_atomically_in_a_private_directory(hosts_file):
    add_host("hv1", "qemu:///system")
    assert stat.S_IMODE(hosts_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(hosts_file.parent.stat().st_mode) == 0o700
    before = hosts_file.stat().st_ino
    add_host("hv2", "qemu:///system")
    assert hosts_file.stat().st_ino != before  # replaced by a rename, never rewritten in place
    assert sorted(p.name for p in hosts_file.parent.iterdir()) == [".hosts.yaml.lock", "hosts.yaml"]  # no temp left
    assert stat.S_IMODE(hosts_file.stat().st_mode) == 0o600


def test_the_file_is_documented_yaml_with_a_version(hosts_file):
    add_host("hv1", "qemu+ssh://root@hv1/system", {"ssd": "yes"})
    import yaml

    text = hosts_file.read_text()
    assert text.startswith("# vmctl hosts inventory")
    assert yaml.safe_load(text) == {"version": 1, "hosts": [{"name": "hv1", "uri": "qemu+ssh://root@hv1/system",
                                                             "labels": {"ssd": "yes"}}]}


def test_a_hand_written_file_is_read_and_its_errors_name_the_file(hosts_file):
    hosts_file.parent.mkdir()
    hosts_file.write_text("version: 1\nhosts:\n  - {name: hv1, uri: 'qemu:///system', labels: {rack: b}}\n")
    assert host_uri("hv1") == "qemu:///system"
    hosts_file.write_text("version: 1\nhosts:\n  - name: hv1\n    uri: [unclosed\n")
    with pytest.raises(InvalidInput, match=f"{hosts_file}: line ") as caught:
        list_hosts()
    assert caught.value.hint
    hosts_file.write_text("version: 1\nhosts:\n  - name: hv1\n    url: qemu:///system\n")
    with pytest.raises(InvalidInput, match=r"hosts\[0\] \(hv1\): unknown key 'url'"):
        host_uri("hv1")
    with pytest.raises(InvalidInput):  # a broken file is never overwritten by an add
        add_host("hv2", "qemu:///system")
    assert "url:" in hosts_file.read_text()


def test_a_directory_is_not_an_inventory(hosts_file):
    hosts_file.mkdir(parents=True)
    with pytest.raises(InvalidInput, match="is a directory"):
        read_inventory(hosts_file)


def test_a_uri_with_a_password_never_reaches_the_file(hosts_file):
    with pytest.raises(InvalidInput, match="password") as caught:
        add_host("hv1", "qemu+ssh://root:s3cret@hv1/system")
    assert "s3cret" not in caught.value.message and "SSH key" in caught.value.hint
    assert not hosts_file.exists()


def _add_many(path: str, prefix: str, count: int, start: "multiprocessing.synchronize.Event") -> None:
    os.environ["VMCTL_HOSTS"] = path
    start.wait(10)
    for i in range(count):
        add_host(f"{prefix}-{i}", "qemu:///system")


def test_concurrent_adds_from_processes_all_kept(hosts_file):
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    workers = [ctx.Process(target=_add_many, args=(str(hosts_file), f"p{n}", 10, start)) for n in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    names = {h.name for h in list_hosts().hosts}
    assert names == {f"p{n}-{i}" for n in range(4) for i in range(10)}


def test_concurrent_adds_from_threads_all_kept(hosts_file):
    start = threading.Event()
    errors: list[BaseException] = []

    def work(prefix: str) -> None:
        try:
            _add_many(str(hosts_file), prefix, 10, start)
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(list_hosts().hosts) == 40


def test_drain_and_undrain_rewrite_only_the_flag(hosts_file):
    add_host("hv1", "qemu+ssh://root@hv1/system", {"rack": "a"})
    add_host("hv2", "test:///default")
    assert set_drained("hv1", True).drained is True
    assert "drained: true" in hosts_file.read_text()
    assert [(h.name, h.drained, h.labels) for h in list_hosts().hosts] == [("hv1", True, (("rack", "a"),)),
                                                                          ("hv2", False, ())]
    assert set_drained("hv1", False).drained is False and "drained" not in hosts_file.read_text()
    with pytest.raises(NotFound):
        set_drained("nope", True)
