"""`-H NAME` resolves through the hosts inventory to a libvirt URI (here the test driver's)."""

from __future__ import annotations

import json

import pytest

from vmctl.cli.app import run
from vmctl.cli.main import main


@pytest.fixture(autouse=True)
def inventory(tmp_path, monkeypatch):
    monkeypatch.setenv("VMCTL_HOSTS", str(tmp_path / "hosts.yaml"))
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", f"qemu+unix:///system?socket={tmp_path}/no-such-socket")
    assert run(["host", "add", "t", "test:///default", "-q"]) == 0


@pytest.mark.parametrize("argv", [["-H", "t", "list", "--json"], ["list", "--json", "-H", "t"],
                                  ["--host=t", "list", "--json"]])
def test_h_lists_the_inventory_hosts_vms(argv, capsys):
    assert run(argv) == 0
    vms = json.loads(capsys.readouterr().out)
    assert [(vm["name"], vm["uri"]) for vm in vms] == [("test", "test:///default")]


def test_h_works_for_a_group_command_and_through_the_executable(capsys, monkeypatch):
    assert run(["host", "info", "-H", "t", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["uri"] == "test:///default"
    monkeypatch.setattr("sys.argv", ["vmctl", "-H", "t", "info", "test", "--json"])
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 0 and json.loads(capsys.readouterr().out)["name"] == "test"


def test_without_h_the_default_uri_is_used(capsys):
    assert run(["list", "--json"]) == 7  # LIBVIRT_DEFAULT_URI: no daemon there


def test_list_all_hosts_goes_on_when_a_host_fails(tmp_path, capsys):
    assert run(["host", "add", "u", "test:///default", "-q"]) == 0
    assert run(["host", "add", "gone", f"qemu+unix:///system?socket={tmp_path}/no-such-socket", "-q"]) == 0
    assert run(["list", "--all-hosts"]) == 0  # one host down never fails the whole list
    out, err = capsys.readouterr()
    rows = [row.split()[:3] for row in out.splitlines()]
    assert rows == [["HOST", "NAME", "STATE"], ["t", "test", "running"], ["u", "test", "running"]]
    assert err.startswith("host gone: unreachable: ") and err.count("\n") == 1
    assert run(["list", "--all-hosts", "--json"]) == 0
    hosts = json.loads(capsys.readouterr().out)["hosts"]
    assert [(h["host"], [v["name"] for v in h["vms"]], h["error"] is None) for h in hosts] == [
        ("t", ["test"], True), ("u", ["test"], True), ("gone", [], False)]
    assert run(["list", "--all-hosts", "-q"]) == 0
    assert capsys.readouterr().out == "t/test\nu/test\n"


def test_list_all_hosts_fails_only_when_no_host_answers(tmp_path, capsys):
    assert run(["host", "rm", "t", "-q"]) == 0
    assert run(["list", "--all-hosts", "--json"]) == 4  # an empty inventory
    assert "inventory is empty" in json.loads(capsys.readouterr().out)["error"]["message"]
    assert run(["host", "add", "gone", f"qemu+unix:///system?socket={tmp_path}/no-such-socket", "-q"]) == 0
    assert run(["list", "--all-hosts", "--json"]) == 7
    assert "no host of the inventory answered: gone: " in json.loads(capsys.readouterr().out)["error"]["message"]


def test_host_stats_of_every_inventory_host(tmp_path, capsys):
    assert run(["host", "add", "gone", f"qemu+unix:///system?socket={tmp_path}/no-such-socket", "-q"]) == 0
    assert run(["host", "stats", "--json"]) == 0
    t, gone = json.loads(capsys.readouterr().out)
    assert (t["host"], t["vms"], t["vms_running"], t["error"]) == ("t", 1, 1, None) and t["cpus"] > 0
    assert t["memory_mib"] > 0 and gone["host"] == "gone" and gone["error"]
    assert run(["host", "stats"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split()[:3] == ["HOST", "ACCEL", "CPUS"] and out.splitlines()[1].startswith("t ")
    assert "1 of 1" in out.splitlines()[1] and err.startswith("host gone: unreachable: ")
