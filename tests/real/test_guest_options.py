"""vmctl's options after the VM name on the real tiny guest (issue 13, item 6): exec's
--timeout and -e NAME, cp's -r, ssh's --insecure, snapshot run's --in-guest/--keep/--json
are vmctl's wherever they stand before `--`; what follows `--` reaches the guest as is.
One VM serves the module."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from vmctl.cli.app import run


@pytest.fixture(scope="module")
def vm(module_vm: str) -> str:
    return module_vm


def guest_out(api, name: str, argv: list[str]) -> str:
    out: list[bytes] = []
    assert api.exec(name, argv, out=out.append) == 0
    return b"".join(out).decode()


def test_exec_env_and_timeout_after_the_name(vm, capfd, monkeypatch):
    monkeypatch.setenv("VMCTL_T_TOKEN", "tok en;$(id)")
    assert run(["exec", vm, "--timeout", "120", "-e", "VMCTL_T_TOKEN", "-e", "PLAIN=p v", "-n", "--",
                "sh", "-c", 'printf "%s|%s" "$VMCTL_T_TOKEN" "$PLAIN"']) == 0
    assert capfd.readouterr().out == "tok en;$(id)|p v"  # the values reached the guest, not its argv
    # without `--`: the command starts at the first word after the options
    assert run(["exec", vm, "-e", "PLAIN=q", "-n", "sh", "-c", 'echo "$PLAIN"']) == 0
    assert capfd.readouterr().out == "q\n"


def test_exec_timeout_after_the_name_is_enforced(vm, capfd):
    # were --timeout the guest's, the guest's shell would say "--timeout: not found" (127)
    assert run(["exec", vm, "--timeout", "2", "-n", "--", "sleep", "60"]) == 255
    err = capfd.readouterr().err
    assert "did not finish within 2 s" in err and "not found" not in err


def test_exec_words_after_double_dash_reach_the_guest_literally(vm, capfd):
    words = ["--timeout", "5", "-e", "X", "--json", "-n", "--", "--all"]
    assert run(["exec", vm, "--json", "-n", "--", "printf", "%s\\n", *words]) == 0
    result = json.loads(capfd.readouterr().out)  # --json after the name: exec's
    assert result["exit_status"] == 0 and result["stdout"].split("\n")[:-1] == words


def test_exec_ambiguous_form_runs_nothing(vm, api, capfd):
    assert run(["exec", vm, "-n", "sh", "-c", "touch /root/ran", "--timeout", "5"]) == 255  # not 2: the guest's
    err = capfd.readouterr().err
    assert "could be vmctl's option or the command's" in err and "hint:" in err
    assert guest_out(api, vm, ["sh", "-c", "test -e /root/ran && echo yes || echo no"]) == "no\n"


def test_cp_with_options_after_the_name(vm, api, tmp_path):
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("payload")
    (tree / "sub" / "f").chmod(0o640)
    assert run(["cp", str(tree), f"{vm}:/root/tree", "-r"]) == 0
    assert guest_out(api, vm, ["cat", "/root/tree/sub/f"]) == "payload"
    back = tmp_path / "back"
    assert run(["cp", f"{vm}:/root/tree", "--recursive", str(back)]) == 0
    assert (back / "sub" / "f").read_text() == "payload"
    assert (back / "sub" / "f").stat().st_mode & 0o777 == 0o640


def test_ssh_with_an_option_after_the_name(vm):
    # were --insecure the guest's, its shell would fail (127); here vmctl warns and the command runs
    proc = subprocess.run([sys.executable, "-m", "vmctl", "ssh", vm, "--insecure", "sh", "-c", "tty; exit 6"],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    assert proc.returncode == 6, proc.stderr
    assert b"/dev/pts/" in proc.stdout  # CMD ran with a pty
    assert b"--insecure: the guest's SSH host key is NOT checked" in proc.stderr


def test_snapshot_run_with_options_after_the_name(vm, api, capfd):
    assert api.exec(vm, ["sh", "-c", "echo v1 > /root/app"]) == 0
    status = run(["snapshot", "run", vm, "--in-guest", "--keep", "--", "sh", "-c", "echo v2 > /root/app; exit 3"])
    err = capfd.readouterr().err
    assert status == 3, err  # ran in the guest (--in-guest), failed, reverted; the snapshot kept (--keep)
    assert "reverted" in err
    assert guest_out(api, vm, ["cat", "/root/app"]) == "v1\n"
    [kept] = api.snapshot_list(vm)
    api.snapshot_delete(vm, kept.name)
    assert run(["snapshot", "run", vm, "--json", "--in-guest", "sh", "-c", "echo v3 > /root/app"]) == 0
    assert json.loads(capfd.readouterr().out)["exit_status"] == 0
    assert guest_out(api, vm, ["cat", "/root/app"]) == "v3\n"
    assert api.snapshot_list(vm) == []
