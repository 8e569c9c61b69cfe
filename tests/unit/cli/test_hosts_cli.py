"""`vmctl host add/rm/ls` and `-H NAME`'s errors: the inventory without libvirt (none of this
connects: LIBVIRT_DEFAULT_URI points at no daemon)."""

from __future__ import annotations

import json

import pytest

from vmctl.cli.app import run


@pytest.fixture(autouse=True)
def hosts_file(tmp_path, monkeypatch):
    path = tmp_path / "hosts.yaml"
    monkeypatch.setenv("VMCTL_HOSTS", str(path))
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", f"qemu+unix:///system?socket={tmp_path}/no-such-socket")
    return path


def test_add_ls_rm_with_json(capsys):
    assert run(["host", "add", "hv1", "qemu+ssh://root@hv1/system", "--label", "rack=a", "--label", "ssd=yes"]) == 0
    assert capsys.readouterr().out == "added host hv1 (qemu+ssh://root@hv1/system)\n"
    assert run(["host", "add", "t", "test:///default", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"name": "t", "uri": "test:///default", "labels": {},
                                                   "drained": False}
    assert run(["host", "ls"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "NAME  URI                         LABELS          DRAINED",
        "hv1   qemu+ssh://root@hv1/system  rack=a,ssd=yes  no",
        "t     test:///default             -               no"]
    assert run(["host", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [h["name"] for h in listed["hosts"]] == ["hv1", "t"] and listed["hosts"][0]["labels"] == {"rack": "a",
                                                                                                     "ssd": "yes"}
    assert run(["host", "rm", "hv1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"removed": "hv1"}
    assert run(["host", "rm", "t", "-q"]) == 0 and capsys.readouterr().out == ""
    assert run(["--json", "host", "ls"]) == 0 and json.loads(capsys.readouterr().out)["hosts"] == []


def test_errors_and_their_exit_codes(capsys):
    assert run(["host", "add", "hv1", "qemu+ssh://root:pw@hv1/system"]) == 3
    err = capsys.readouterr().err
    assert "holds a password" in err and ":pw@" not in err and "SSH key" in err
    assert run(["host", "add", "hv1", "hv1.example"]) == 3
    assert run(["host", "add", "hv1", "qemu:///system", "--label", "Bad=x"]) == 3
    assert run(["host", "add", "hv1", "qemu:///system"]) == 0
    capsys.readouterr()
    assert run(["host", "add", "hv1", "qemu:///system", "--json"]) == 5
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "conflict"
    assert run(["host", "rm", "nope"]) == 4
    assert "known hosts: hv1" in capsys.readouterr().err


def test_unknown_host_name_is_not_found_with_the_known_names(capsys):
    assert run(["host", "add", "hv1", "qemu:///system", "-q"]) == 0
    assert run(["-H", "hv9", "list", "--json"]) == 4
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["message"].startswith("no host 'hv9' in the inventory") and "hv1" in error["hint"]
    assert run(["info", "web1", "--host", "hv9"]) == 4


@pytest.mark.parametrize("argv", [["-c", "test:///default", "-H", "t", "list"],
                                  ["-H", "t", "list", "-c", "test:///default"],
                                  ["list", "--connect", "test:///default", "--host=t"],
                                  ["-c", "test:///default", "host", "ls", "-H", "t"]])
def test_c_and_h_together_are_invalid_input(argv, capsys):
    assert run(["host", "add", "t", "test:///default", "-q"]) == 0
    assert run([*argv, "--json"]) == 3
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["message"] == "both -c URI and -H NAME given" and "vmctl host ls" in error["hint"]


def test_the_fast_path_leaves_h_to_the_full_cli():
    from vmctl.cli.main import parse_fast

    for args in (["-H", "t", "list"], ["--host", "t", "info", "x"], ["--host=t", "list", "--json"],
                 ["list", "-H", "t"]):
        assert parse_fast(args) is None, args


def test_drain_and_undrain_flags_and_what_placement_refuses_without_hosts(capsys):
    assert run(["host", "add", "hv1", "qemu:///system", "-q"]) == 0
    assert run(["host", "undrain", "hv1"]) == 0 and capsys.readouterr().out == "host hv1 is no longer drained\n"
    assert run(["host", "drain", "nope", "--dry-run"]) == 4
    assert "known hosts: hv1" in capsys.readouterr().err
    assert run(["host", "drain", "hv1", "--parallel", "0"]) == 3
    assert run(["create", "web1", "--dry-run"]) == 3
    assert "--host auto" in capsys.readouterr().err
    assert run(["-H", "hv1", "create", "web1", "--host", "auto", "--dry-run"]) == 3
    assert "chooses the host itself" in capsys.readouterr().err
    assert run(["create", "web1", "--host", "auto", "--dry-run", "--place", "random"]) == 3
