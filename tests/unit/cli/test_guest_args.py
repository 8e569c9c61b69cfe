"""Guest commands (exec, ssh, cp, provision, snapshot run): vmctl's options anywhere
before `--`, the guest command after it literally; without `--` the command starts at
the first argument after NAME; ambiguous forms are usage errors with a hint.

The API is a recorder: these tests are about what the CLI hands it."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from vmctl.cli.app import run
from vmctl.cli.state import CliState


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple, dict]] = []

    def _record(self, verb: str, *args, **kwargs) -> None:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("out", "err", "on_event", "say", "write", "progress")}
        self.calls.append((verb, args, kwargs))

    def exec(self, name, argv, **kw) -> int:
        self._record("exec", name, argv, **kw)
        return 0

    def exec_many(self, names, argv, **kw):
        self._record("exec_many", names, argv, **kw)
        return SimpleNamespace(outcomes=[SimpleNamespace(name=n, vmctl_failed=False, exit_status=0, error=None)
                                         for n in names], vmctl_failed=False, exit_status=0)

    def running_vm_names(self) -> list[str]:
        return ["a", "b"]

    def interactive(self, name, command, **kw) -> int:
        self._record("ssh", name, command, **kw)
        return 0

    def copy(self, src, dest, **kw) -> None:
        self._record("cp", src, dest, **kw)

    def provision(self, name, plan, **kw):
        self._record("provision", name, str(plan), **kw)
        return SimpleNamespace(ran=[], skipped=[])

    def snapshot_run(self, name, argv, **kw):
        self._record("snapshot_run", name, argv, **kw)
        return SimpleNamespace(exit_status=0)

    def close(self) -> None:
        pass


@pytest.fixture
def calls(monkeypatch) -> list:
    recorder = Recorder()
    monkeypatch.setattr(CliState, "api", lambda self: recorder)
    return recorder.calls


def ran(calls, argv: list[str]) -> tuple:
    calls.clear()
    assert run(argv) == 0, argv
    [call] = calls
    return call


EXEC = {"env": {}, "timeout": None, "stdin": None, "insecure": False}


@pytest.mark.parametrize("argv", [
    ["exec", "-n", "--timeout", "30", "-e", "K=v", "web1", "--", "uname", "-a"],  # options before NAME
    ["exec", "web1", "-n", "--timeout", "30", "-e", "K=v", "--", "uname", "-a"],  # after NAME (issue 13)
    ["exec", "-n", "web1", "--timeout=30", "--env=K=v", "--", "uname", "-a"],     # mixed, = forms
    ["exec", "web1", "-ne", "K=v", "--timeout", "30", "uname", "-a"],               # without `--`, bundled
    ["exec", "--timeout", "30", "web1", "-eK=v", "-n", "uname", "-a"],
])
def test_exec_options_before_and_after_the_name(calls, argv):
    assert ran(calls, argv) == ("exec", ("web1", ["uname", "-a"]), {**EXEC, "env": {"K": "v"}, "timeout": 30.0})


def test_exec_env_name_alone_takes_vmctls_value(calls, monkeypatch):
    monkeypatch.setenv("TOKEN", "s3cret")
    assert ran(calls, ["exec", "web1", "-e", "TOKEN", "-n", "--", "printenv", "TOKEN"]) == (
        "exec", ("web1", ["printenv", "TOKEN"]), {**EXEC, "env": {"TOKEN": "s3cret"}})


@pytest.mark.parametrize("command", [
    ["ls", "-l", "--color"], ["tool", "--json"], ["tool", "--timeout", "5", "-e", "x", "-n"], ["--", "x"],
    ["-"], ["sh", "-c", "echo $HOME; exit 3"], ["grep", "-e", "--", "x"],
])
def test_exec_everything_after_double_dash_is_literal(calls, command):
    assert ran(calls, ["exec", "web1", "-n", "--", *command]) == ("exec", ("web1", command), EXEC)


def test_exec_without_double_dash_the_first_word_after_name_starts_the_command(calls):
    assert ran(calls, ["exec", "-n", "web1", "uname", "-a"]) == ("exec", ("web1", ["uname", "-a"]), EXEC)
    assert ran(calls, ["exec", "-n", "web1", "ls", "-la", "--color=auto"])[1] == ("web1", ["ls", "-la", "--color=auto"])
    assert ran(calls, ["exec", "-n", "web1", "ps", "-ef"])[1] == ("web1", ["ps", "-ef"])  # -ef is not a word of ours


def test_exec_several_vms_and_all(calls):
    verb, args, kw = ran(calls, ["exec", "a,b", "-p", "2", "-n", "--", "true"])
    assert (verb, args, kw["parallel"]) == ("exec_many", (["a", "b"], ["true"]), 2)
    verb, args, kw = ran(calls, ["exec", "-n", "--all", "--parallel", "3", "--", "true"])
    assert (verb, args, kw["parallel"]) == ("exec_many", (["a", "b"], ["true"]), 3)
    verb, args, kw = ran(calls, ["exec", "a,b", "-np2", "uname"])  # bundled flags, attached value
    assert (verb, args, kw["parallel"]) == ("exec_many", (["a", "b"], ["uname"]), 2)
    verb, args, _kw = ran(calls, ["exec", "--all", "-n", "uname", "-a"])  # --all: no NAME, the command at once
    assert args == (["a", "b"], ["uname", "-a"])


def test_exec_json_after_the_name_is_execs(calls, capsys):
    assert ran(calls, ["exec", "web1", "--json", "-n", "--", "true"])[1] == ("web1", ["true"])
    assert json.loads(capsys.readouterr().out) == {"name": "web1", "exit_status": 0, "stdout": "", "stderr": ""}
    assert ran(calls, ["exec", "web1", "-n", "--", "tool", "--json"])[1] == ("web1", ["tool", "--json"])
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("argv, message, hint", [
    (["exec", "web1", "uname", "-a", "--timeout", "5"], "'--timeout' after the command 'uname' could be",
     "vmctl exec [OPTIONS] NAME[,NAME...] -- CMD [ARGS...]"),
    (["exec", "web1", "grep", "-e", "x", "f"], "'-e' after the command 'grep'", "before `--`"),
    (["exec", "web1", "tool", "--json=x"], "'--json=x' after the command 'tool'", "before `--`"),
    (["exec", "web1", "ls", "--", "-l"], "unexpected argument 'ls' before `--`", "all that follows it"),
    (["exec", "--all", "web1", "--", "true"], "unexpected argument 'web1' before `--` (--all or --stack replaces NAME)",
     "-- CMD"),
    (["exec", "web1", "-l", "--", "ls"], "No such option: -l", "a guest command's own options go after `--`"),
    (["exec", "web1", "--debug", "--", "ls"], "No such option: --debug", "--debug is a global option: it goes "
     "before the command (vmctl --debug ...)"),
    (["ssh", "web1", "top", "--insecure"], "'--insecure' after the command 'top'",
     "vmctl ssh [OPTIONS] NAME [[--] CMD [ARGS...]]"),
    (["snapshot", "run", "web1", "make", "--keep"], "'--keep' after the command 'make'",
     "vmctl snapshot run [OPTIONS] NAME -- CMD [ARGS...]"),
])
def test_ambiguous_or_misplaced_forms_are_usage_errors_with_a_hint(calls, capsys, argv, message, hint):
    assert run(argv) == (255 if argv[0] == "exec" else 2)  # exec: every other status is the guest's
    err = capsys.readouterr().err
    assert message in err and "hint: " in err and hint in err.partition("hint: ")[2], err
    assert calls == []


def test_usage_hint_as_json(calls, capsys):
    assert run(["exec", "--json", "web1", "uname", "--timeout", "5"]) == 255
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "usage" and "'--timeout' after the command" in error["message"]
    assert (error["exit_code"], error["vmctl_exit_code"]) == (255, 2)
    assert "-- CMD [ARGS...]" in error["hint"]
    # a --json that is the guest command's (without `--`, after the command starts) is not exec's
    assert run(["ssh", "web1", "tool", "--json", "--insecure"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "hint: " in captured.err


def test_exec_missing_parts(calls, capsys):
    assert run(["exec", "web1"]) == 255
    assert "no command given" in capsys.readouterr().err
    assert run(["exec", "web1", "--"]) == 255
    assert "no command given" in capsys.readouterr().err
    assert run(["exec", "--", "true"]) == 255
    assert "no VM given" in capsys.readouterr().err
    assert run(["exec", "web1", "--all", "--", "true"]) == 255  # NAME then --all: refused, not guessed
    assert run(["exec", "web1", "--timeout", "soon", "--", "true"]) == 255  # any usage error of exec
    assert "invalid --timeout" in capsys.readouterr().err
    assert calls == []


@pytest.mark.parametrize("argv, command", [
    (["ssh", "web1"], None), (["ssh", "web1", "--"], None),
    (["ssh", "web1", "uname", "-a"], ["uname", "-a"]),                 # the documented form: ssh NAME [CMD...]
    (["ssh", "web1", "--", "ls", "-l", "--insecure"], ["ls", "-l", "--insecure"]),
    (["ssh", "web1", "rm", "-f", "x"], ["rm", "-f", "x"]),
])
def test_ssh_command_forms(calls, argv, command):
    assert ran(calls, argv) == ("ssh", ("web1", command), {"insecure": False})


@pytest.mark.parametrize("argv", [["ssh", "--insecure", "web1", "uname"], ["ssh", "web1", "--insecure", "uname"],
                                  ["ssh", "web1", "--insecure", "--", "uname"]])
def test_ssh_options_before_and_after_the_name(calls, argv):
    assert ran(calls, argv) == ("ssh", ("web1", ["uname"]), {"insecure": True})


@pytest.mark.parametrize("argv", [["cp", "-r", "--insecure", "./d", "web1:/d"], ["cp", "./d", "-r", "web1:/d"],
                                  ["cp", "./d", "web1:/d", "--insecure", "--recursive"]])
def test_cp_options_anywhere(calls, argv):
    insecure = "--insecure" in argv
    assert ran(calls, argv) == ("cp", ("./d", "web1:/d"), {"recursive": True, "insecure": insecure})


def test_cp_double_dash_ends_options(calls):
    assert ran(calls, ["cp", "-r", "--", "-odd", "web1:/x"]) == ("cp", ("-odd", "web1:/x"),
                                                                {"recursive": True, "insecure": False})


@pytest.mark.parametrize("argv", [["provision", "--insecure", "web1", "site.yaml"],
                                  ["provision", "web1", "--insecure", "site.yaml"],
                                  ["provision", "web1", "site.yaml", "--insecure"]])
def test_provision_options_anywhere(calls, argv):
    assert ran(calls, argv) == ("provision", ("web1", "site.yaml"), {"insecure": True})


@pytest.mark.parametrize("argv", [
    ["snapshot", "run", "--in-guest", "--keep", "web1", "--", "make", "-j2", "--keep-going"],
    ["snapshot", "run", "web1", "--in-guest", "--keep", "--", "make", "-j2", "--keep-going"],
    ["snapshot", "run", "web1", "--keep", "--in-guest", "make", "-j2", "--keep-going"],
])
def test_snapshot_run_options_before_and_after_the_name(calls, argv):
    assert ran(calls, argv) == ("snapshot_run", ("web1", ["make", "-j2", "--keep-going"]),
                                {"in_guest": True, "keep": True})


def test_snapshot_run_json_after_the_name(calls, capsys):
    assert ran(calls, ["snapshot", "run", "web1", "--json", "--", "true"])[1] == ("web1", ["true"])
    assert json.loads(capsys.readouterr().out) == {"exit_status": 0}


def test_help_shows_where_the_command_goes(capsys):
    assert run(["exec", "--help"]) == 0
    assert "Usage: vmctl exec [OPTIONS] NAME[,NAME...] -- CMD [ARGS...]" in capsys.readouterr().out
    assert run(["snapshot", "run", "-h"]) == 0
    assert "Usage: vmctl snapshot run [OPTIONS] NAME -- CMD [ARGS...]" in capsys.readouterr().out
    assert run(["ssh", "-h"]) == 0
    assert "Usage: vmctl ssh [OPTIONS] NAME [[--] CMD [ARGS...]]" in capsys.readouterr().out


def test_global_options_before_the_command(calls, monkeypatch):
    seen = {}
    recorder_api = CliState.api

    def api(self):
        seen.update(uri=self.uri, debug=self.debug)
        return recorder_api(self)
    monkeypatch.setattr(CliState, "api", api)
    assert ran(calls, ["-c", "test:///default", "--debug", "exec", "web1", "-n", "--", "true"])[1] == (
        "web1", ["true"])
    assert seen == {"uri": "test:///default", "debug": True}
    assert ran(calls, ["exec", "web1", "-n", "--", "tool", "--debug", "-c", "x"])[1] == (
        "web1", ["tool", "--debug", "-c", "x"])
    assert seen == {"uri": None, "debug": False}


@pytest.mark.parametrize("argv", [
    ["-c", "test:///default", "exec", "web1", "--", "ls", "-c", "x"],
    ["exec", "web1", "-c", "test:///default", "--", "ls", "-c", "x"],
    ["exec", "-c", "test:///default", "web1", "ls", "-l"],
])
def test_connect_is_taken_before_and_after_the_command(monkeypatch, argv):
    seen: list = []
    recorder = Recorder()
    monkeypatch.setattr(CliState, "api", lambda self: seen.append(self.uri) or recorder)
    assert run(argv) == 0
    assert seen == ["test:///default"]
    assert recorder.calls[0][1] in (("web1", ["ls", "-c", "x"]), ("web1", ["ls", "-l"]))  # after --: the guest's


@pytest.mark.parametrize("argv, command", [
    (["exec", "web1", "-n", "sh", "-c", "echo hi"], ["sh", "-c", "echo hi"]),
    (["exec", "web1", "-n", "grep", "-q", "x", "f"], ["grep", "-q", "x", "f"]),
    (["exec", "web1", "-n", "tool", "--connect", "u", "--quiet"], ["tool", "--connect", "u", "--quiet"]),
])
def test_common_options_after_the_command_are_the_guests(calls, argv, command):
    # -c and -q are every command's options, and sh -c / grep -q are too common to refuse
    assert ran(calls, argv) == ("exec", ("web1", command), EXEC)
    assert ran(calls, ["ssh", "web1", "sh", "-c", "tty"]) == ("ssh", ("web1", ["sh", "-c", "tty"]),
                                                               {"insecure": False})
    assert ran(calls, ["snapshot", "run", "web1", "--in-guest", "sh", "-c", "x"]) == (
        "snapshot_run", ("web1", ["sh", "-c", "x"]), {"in_guest": True, "keep": False})
