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
