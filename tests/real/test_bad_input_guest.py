"""Bad input to the guest commands: clear errors, exit codes, nothing left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmctl.cli.app import run
from vmctl.testing.ndjson import result


def fails(argv: list[str], code: int, message: str, capsys) -> None:
    assert run(argv) == code
    err = capsys.readouterr().err
    assert message in err and "hint:" in err, err


@pytest.mark.parametrize("extra,code,message", [
    (["--ssh-key", "/nonexistent/key"], 4, "no SSH key file"),
    (["--user-data", "/nonexistent/ud.yaml"], 4, "no user-data file"),
    (["--wait", "sometime"], 3, "invalid --wait"),
])
def test_create_with_bad_guest_options_leaves_nothing(tiny, vm_name, leftovers, capsys, extra, code, message):
    before = leftovers()
    assert run(["create", vm_name, *extra, "--json"]) == code
    assert message in result(capsys.readouterr().out)["error"]["message"]
    assert leftovers() == before


def test_user_data_that_is_not_a_mapping(tiny, vm_name, leftovers, capsys, tmp_path: Path):
    before = leftovers()
    bad = tmp_path / "ud.yaml"
    bad.write_text("- just\n- a list\n")
    fails(["create", vm_name, "--user-data", str(bad)], 3, "not a cloud-config mapping", capsys)
    bad.write_text("key: [unclosed\n")
    fails(["create", vm_name, "--user-data", str(bad)], 3, "not valid YAML", capsys)
    assert leftovers() == before


def exec_fails(argv: list[str], vmctl_code: int, message: str, capsys) -> None:
    """exec's own failures exit 255 (its guest command owns every other status); the
    specific vmctl code is in the JSON error."""
    fails(argv, 255, message, capsys)
    assert run([argv[0], "--json", *argv[1:]]) == 255
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["vmctl_exit_code"] == vmctl_code and message in error["message"]


def test_guest_commands_on_missing_or_stopped_vms(api, tiny, vm_name, capsys, tmp_path: Path):
    exec_fails(["exec", "-n", "ghost-vm", "--", "true"], 4, "no VM named", capsys)
    fails(["cp", "./a", "./b"], 3, "exactly one side", capsys)
    fails(["wait", "ghost-vm"], 4, "no VM named", capsys)
    api.create(vm_name, start=False)
    exec_fails(["exec", "-n", vm_name, "--", "true"], 11, "is not running", capsys)
    exec_fails(["exec", "-n", vm_name], 3, "no command given", capsys)
    fails(["wait", vm_name, "--for", "lunch"], 3, "invalid --for", capsys)
    fails(["wait", vm_name, "--timeout", "1"], 9, "waiting for 'domain running'", capsys)


def test_bad_provisioning_files_are_refused_before_touching_the_guest(api, tiny, vm_name, capsys, tmp_path: Path):
    api.create(vm_name, start=False)
    plan = tmp_path / "plan.yaml"
    fails(["provision", vm_name, str(plan)], 4, "", capsys)
    plan.write_text("steps:\n  - run: [true]\n    reboot: {}\n")
    fails(["provision", vm_name, str(plan)], 3, "step 1", capsys)
    plan.write_text("steps:\n  - script: ../../etc/passwd\n")
    fails(["provision", vm_name, str(plan)], 3, "", capsys)
    assert api.vms.info_meta(vm_name).provisioned == ()
