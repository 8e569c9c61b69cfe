"""The lab's hosts as runtime code sees them (local/knownhosts.py: lab_hosts)."""

import json

from vmctl.local.knownhosts import lab_hosts


def test_hosts_from_lab_json(tmp_path):
    (tmp_path / "lab.json").write_text(json.dumps({"format": 1, "hosts": [
        {"name": "lab1", "root": "/var/lib/l/hosts/a", "host_uuid": "u1", "address": "10.0.0.2"},
        {"name": "lab2", "root": "", "host_uuid": "u2"},  # killed before its root existed
        "junk"]}))
    hosts = lab_hosts(tmp_path)
    assert [(h.name, h.uuid, h.uri) for h in hosts] == [
        ("lab1", "u1", "qemu+unix:///system?socket=/var/lib/l/hosts/a/run/libvirt-sock")]


def test_no_lab_or_an_unreadable_one_means_no_hosts(tmp_path, monkeypatch):
    assert lab_hosts(tmp_path) == []
    (tmp_path / "lab.json").write_text("{torn")
    assert lab_hosts(tmp_path) == []
    monkeypatch.setenv("VMCTL_LAB_DIR", str(tmp_path / "none"))
    assert lab_hosts() == []


def test_the_socket_path_matches_the_labs_layout(tmp_path):
    from vmctl.testing.lab.layout import Layout

    root = tmp_path / "hosts" / "x"
    (tmp_path / "lab.json").write_text(json.dumps({"hosts": [{"name": "lab1", "root": str(root)}]}))
    assert lab_hosts(tmp_path)[0].uri == f"qemu+unix:///system?socket={Layout(root).socket}"
