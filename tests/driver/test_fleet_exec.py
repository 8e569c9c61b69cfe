"""`exec --all-hosts` through the CLI against libvirt's test driver: the filter it needs,
a line for a host that does not answer, the per-VM outcome of a VM it cannot reach over
SSH (the test driver's "test" domain runs no guest), never a traceback."""

from __future__ import annotations

import json

import pytest

from vmctl.cli.app import run


@pytest.fixture(autouse=True)
def inventory(tmp_path, monkeypatch):
    monkeypatch.setenv("VMCTL_HOSTS", str(tmp_path / "hosts.yaml"))
    assert run(["host", "add", "t", "test:///default", "-q"]) == 0
    assert run(["host", "add", "dead", f"qemu+unix:///system?socket={tmp_path}/nobody", "-q"]) == 0


def test_all_hosts_needs_a_label_or_all(capsys):
    assert run(["exec", "--all-hosts", "-n", "--", "true"]) == 255  # exec: every vmctl failure is 255, as with ssh
    assert "needs a filter" in capsys.readouterr().err
    assert run(["exec", "-n", "--label", "a=b", "--", "true"]) == 255  # exec: every vmctl failure is 255, as with ssh  # --label without --all-hosts
    assert run(["exec", "--all-hosts", "--all", "-n", "web1", "--", "true"]) == 255  # exec: every vmctl failure is 255, as with ssh


def test_no_matching_vm_is_refused_naming_the_hosts_that_did_not_answer(capsys):
    assert run(["exec", "--all-hosts", "-n", "--label", "role=none", "--", "true"]) == 255  # exec: every vmctl failure is 255, as with ssh
    assert "no running VM with {'role': 'none'} on the hosts that answered (dead did not answer)" in capsys.readouterr().err


def test_a_vm_that_fails_and_a_dead_host_are_lines_not_tracebacks(capsys):
    status = run(["exec", "--all-hosts", "-n", "--all", "--json", "--", "true"])
    out, err = capsys.readouterr()
    assert status == 255 and "Traceback" not in err
    assert "host dead: unreachable: " in err
    result = json.loads(out)
    assert [u["host"] for u in result["unreachable"]] == ["dead"]
    assert [(v["name"], v["exit_status"]) for v in result["vms"]] == [("t/test", None)]
    assert result["vms"][0]["vmctl_exit_code"] and result["vms"][0]["error"]
