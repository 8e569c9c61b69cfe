"""Known hosts: the lab's, as `vmctl lab status` shows their URIs; a state file others
may write names none."""

import json
import os

from vmctl.local.knownhosts import known_host_uris, lab_host_uris
from vmctl.testing.lab.cluster import Lab


def make_lab(root, hosts=2):
    root.mkdir(mode=0o711)
    records = [{"name": f"lab{n}", "address": f"10.98.{n}.2", "link_address": f"10.97.1.{n}", "netns": f"ns{n}",
                "host_uuid": f"u{n}", "root": str(root / "hosts" / f"vmctl-lab-{n}")} for n in range(1, hosts + 1)]
    (root / "lab.json").write_text(json.dumps({"format": 1, "complete": True, "hosts": records}))
    (root / "lab.json").chmod(0o600)
    return records


def test_lab_hosts_are_known_by_the_uris_the_lab_shows(tmp_path, monkeypatch):
    root = tmp_path / "lab"
    records = make_lab(root)
    expected = [Lab(root)._info(r).uri for r in records]
    assert lab_host_uris(root) == expected and all("command=" in u for u in expected)
    monkeypatch.setenv("VMCTL_LAB_DIR", str(root))
    assert known_host_uris() == expected
    monkeypatch.setenv("VMCTL_LAB_DIR", str(tmp_path / "none"))
    assert known_host_uris() == []


def test_a_state_file_others_can_write_names_no_host(tmp_path):
    root = tmp_path / "lab"
    make_lab(root)
    (root / "lab.json").chmod(0o666)
    assert lab_host_uris(root) == []
    (root / "lab.json").chmod(0o600)
    os.chmod(root, 0o777)
    assert lab_host_uris(root) == []
    os.chmod(root, 0o711)
    (root / "lab.json").write_text("{not json")
    assert lab_host_uris(root) == []
