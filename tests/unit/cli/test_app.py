"""The CLI shell: lazy commands, version, completion, --json/--debug before `--`, closed pipes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vmctl import __version__
from vmctl.cli.app import COMMANDS, run

PY = sys.executable
HEAVY = ("libvirt", "lxml", "paramiko", "yaml", "pycdlib", "cryptography")


def loaded_after(argv: list[str], env: dict[str, str] | None = None) -> set[str]:
    """Top-level modules imported by a vmctl run in a fresh interpreter."""
    code = ("import sys, io, contextlib\n"
            "from vmctl.cli.app import run\n"
            "with contextlib.redirect_stdout(io.StringIO()): run(sys.argv[1:])\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([PY, "-c", code, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def test_help_lists_every_command_without_loading_the_stack(capsys):
    assert run(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
    assert not loaded_after(["--help"]) & set(HEAVY)


def test_reading_commands_load_only_what_they_use():
    loaded = loaded_after(["-c", "test:///default", "list"])
    assert "libvirt" in loaded and not loaded & {"paramiko", "yaml", "pycdlib", "cryptography"}
    loaded = loaded_after(["-c", "test:///default", "template", "list"])
    assert not loaded & {"paramiko", "yaml", "pycdlib", "cryptography"}


def test_every_command_in_the_table_resolves():
    import click

    from vmctl.cli.app import app
    import typer

    group = typer.main.get_command(app)
    ctx = click.Context(group)
    for name in COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None and (command.help or "").strip(), name


def test_version(capsys):
    assert run(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"vmctl {__version__}"


def test_json_after_double_dash_belongs_to_the_guest_command(capsys):
    # exec's own options end at `--`: a --json after it is the guest command's argument.
    # (exec's own failures exit 255, as ssh's do: the guest command's statuses are all its own)
    assert run(["-c", "test:///default", "exec", "ghost", "--", "tool", "--json"]) == 255
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: no VM named 'ghost'")
    assert run(["-c", "test:///default", "info", "ghost", "--json"]) == 4
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "not-found"


def test_debug_only_before_double_dash(capsys):
    assert run(["-c", "test:///default", "exec", "ghost", "--", "tool", "--debug"]) == 255
    assert "Traceback" not in capsys.readouterr().err
    assert run(["--debug", "-c", "test:///default", "info", "ghost"]) == 4
    assert "Traceback" in capsys.readouterr().err


def test_usage_error_as_json(capsys):
    assert run(["list", "--json", "--bogus"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "usage"


def test_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before vmctl writes anything
    proc = subprocess.run([PY, "-m", "vmctl", "template", "list"], stdout=write_end, stderr=subprocess.PIPE,
                          text=True, timeout=60)
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell):
    proc = subprocess.run([PY, "-m", "vmctl", "--show-completion", shell], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0 and "_VMCTL_COMPLETE" in proc.stdout


def test_completion_of_vm_and_template_names():
    env = {**os.environ, "_VMCTL_COMPLETE": "complete_bash", "COMP_WORDS": "vmctl -c test:///default info t",
           "COMP_CWORD": "4"}
    proc = subprocess.run([PY, "-m", "vmctl"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.split() == ["test"]  # the test driver's one domain
    env = {**os.environ, "_VMCTL_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "vmctl create x --template linux-d"}
    proc = subprocess.run([PY, "-m", "vmctl"], capture_output=True, text=True, timeout=60, env=env)
    assert "linux-direct" in proc.stdout and "linux\"" not in proc.stdout


def test_library_warnings_reach_stderr_through_the_cli(capsys):
    # --insecure makes the API warn (through logging); the CLI shows it as "warning: ...".
    assert run(["-c", "test:///default", "exec", "--insecure", "ghost", "--", "true"]) == 255
    err = capsys.readouterr().err
    assert "warning: --insecure: the guest's SSH host key is NOT checked" in err


def test_fast_path_parses_only_the_simple_forms():
    from vmctl.cli.main import parse_fast

    assert parse_fast(["list"]) == (None, "list", None, False)
    assert parse_fast(["-c", "test:///default", "list", "--json"]) == ("test:///default", "list", None, True)
    assert parse_fast(["--connect=qemu:///system", "info", "web1", "--json"]) == ("qemu:///system", "info",
                                                                                  "web1", True)
    assert parse_fast(["list", "--all-hosts"]) == (None, "list-all-hosts", None, False)
    assert parse_fast(["--json", "list", "--all-hosts"]) == (None, "list-all-hosts", None, True)
    for args in (["list", "--all-hosts", "--all-hosts"], ["-c", "test:///default", "list", "--all-hosts"],
                 ["list", "--all-hosts", "-q"], ["info", "--all-hosts"], ["--all-hosts"]):
        assert parse_fast(args) is None, args
    for args in (["list", "--help"], ["info"], ["info", "a", "b"], ["list", "--json", "--json"], ["--debug", "list"],
                 ["list", "-q"], ["create", "x"], ["-c", "--json", "list"], [], ["list", "--label", "a=b"],
                 ["list", "--label=a=b", "--json"]):
        assert parse_fast(args) is None, args


@pytest.mark.parametrize("argv", [["list"], ["list", "--json"], ["info", "test"], ["info", "test", "--json"],
                                  ["info", "ghost"], ["info", "ghost", "--json"]])
def test_fast_path_prints_exactly_what_the_full_cli_prints(argv):
    """The same views and errors through both doors (the test driver's domain 'test' has no vmctl metadata)."""
    args = ["-c", "test:///default", *argv]
    fast = subprocess.run([PY, "-m", "vmctl", *args], capture_output=True, text=True, timeout=60)
    full = subprocess.run([PY, "-c", "import sys; from vmctl.cli.app import main; main()", *args],
                          capture_output=True, text=True, timeout=60)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    assert "typer" not in subprocess.run(
        [PY, "-c", "import sys, runpy; sys.argv=['vmctl', *sys.argv[1:]]\n"
                   "try: runpy.run_module('vmctl', run_name='__main__')\n"
                   "except SystemExit: pass\nprint(' '.join(sys.modules), file=sys.stderr)", *args],
        capture_output=True, text=True, timeout=60).stderr.split()


def test_exec_failures_of_vmctl_exit_255_with_the_specific_code(capsys):
    assert run(["-c", "test:///default", "exec", "--json", "ghost", "--", "true"]) == 255
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["exit_code"], error["vmctl_exit_code"], error["code"]) == (255, 4, "not-found")


def test_env_name_without_value_comes_from_vmctls_environment(monkeypatch, capsys):
    from vmctl.cli.commands.guest import _env

    monkeypatch.setenv("VMCTL_T_SECRET", "s3cret")
    assert _env(["VMCTL_T_SECRET", "A=1"]) == {"VMCTL_T_SECRET": "s3cret", "A": "1"}
    monkeypatch.delenv("VMCTL_T_SECRET")
    assert run(["-c", "test:///default", "exec", "-e", "VMCTL_T_SECRET", "test", "--", "true"]) == 255
    assert "no such variable in vmctl's environment" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--json", "template", "show", "ghost"], ["template", "show", "ghost", "--json"],
                                  ["--json", "-c", "test:///default", "info", "ghost"],
                                  ["info", "ghost", "-c", "test:///default", "--json"]])
def test_json_and_connect_work_before_and_after_every_command(capsys, argv):
    assert run(argv) == 4
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "not-found" and "ghost" in error["message"]


def test_quiet_before_or_after_the_command(capsys):
    assert run(["-c", "test:///default", "list", "-q"]) == 0
    assert capsys.readouterr().out == "test\n"  # the test driver's one VM: names only
    assert run(["-q", "-c", "test:///default", "template", "list"]) == 0
    assert capsys.readouterr().out == ""
    assert run(["-q", "template", "show", "ghost"]) == 4
    assert "error: no template named 'ghost'" in capsys.readouterr().err  # -q never hides an error


def test_a_bad_option_value_is_invalid_input_naming_the_option_and_choices(capsys):
    assert run(["--json", "create", "x", "--wait", "forever"]) == 3
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "invalid-input" and error["message"].startswith("invalid --wait:")
    assert error["hint"] == "one of: none, boot, ssh"
    assert run(["start", "x", "--wait", "sometime"]) == 3
    assert "invalid --wait" in capsys.readouterr().err


def test_snapshot_names_complete_for_the_vm_named_before(monkeypatch):
    import click
    from types import SimpleNamespace

    from vmctl.cli.complete import complete_snapshot
    from vmctl.cli.state import CliState

    asked: list[str] = []
    fake = SimpleNamespace(snapshot_list=lambda vm: asked.append(vm) or [SimpleNamespace(name=n) for n in
                                                                        ("base", "before-upgrade", "b2")],
                           close=lambda: None)
    monkeypatch.setattr(CliState, "api", lambda self: fake)
    root = click.Context(click.Command("vmctl", params=[click.Option(["-c", "--connect"])]))
    root.params = {"connect": None}
    ctx = click.Context(click.Command("revert"), parent=root)
    assert complete_snapshot(ctx, "b") == []  # no VM named yet: nothing to ask
    ctx.params = {"name": "web1"}
    assert complete_snapshot(ctx, "b") == ["base", "before-upgrade", "b2"]
    assert complete_snapshot(ctx, "be") == ["before-upgrade"] and asked == ["web1", "web1"]


@pytest.mark.parametrize("argv", [["list", "--all-hosts"], ["list", "--all-hosts", "--json"]])
def test_fast_path_of_the_fleet_list_prints_what_the_full_cli_prints(argv, tmp_path):
    """list --all-hosts through both doors: the same lines, the same line for a host that does not answer."""
    import os

    env = {**os.environ, "VMCTL_HOSTS": str(tmp_path / "hosts.yaml")}
    for name, uri in (("t", "test:///default"), ("dead", f"qemu+unix:///system?socket={tmp_path}/nobody")):
        assert subprocess.run([PY, "-m", "vmctl", "-q", "host", "add", name, uri], env=env, timeout=60).returncode == 0
    fast = subprocess.run([PY, "-m", "vmctl", *argv], capture_output=True, text=True, timeout=60, env=env)
    full = subprocess.run([PY, "-c", "import sys; from vmctl.cli.app import main; main()", *argv],
                          capture_output=True, text=True, timeout=60, env=env)
    assert (fast.returncode, fast.stdout, fast.stderr) == (full.returncode, full.stdout, full.stderr)
    assert fast.returncode == 0 and "dead" in fast.stdout + fast.stderr and "nobody" in fast.stdout + fast.stderr
