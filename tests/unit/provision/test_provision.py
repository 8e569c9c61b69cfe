"""Provisioning plans: parsing, validation, step keys, and the executor against a fake guest."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vmctl.errors import GuestError, InvalidInput, NotFound, OperationFailed, Timeout
from vmctl.provision.plan import load_plan
from vmctl.provision.runner import ProvisionEvent, StepFailed, run_plan
from vmctl.provision.state import MemoryState

# --------------------------------------------------------------------------- fakes


@dataclass
class Outcome:
    exit_status: int = 0
    output: str = ""

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class FakeGuest:
    """Records every call; ``fail`` maps a command's argv[0] (or shell code) to an outcome."""

    calls: list[tuple] = field(default_factory=list)
    fail: dict[str, Outcome] = field(default_factory=dict)
    file_after: int | None = None  # file_exists turns True on this poll (None: never)
    port_after: int | None = None
    polls: int = 0
    stdout: bytes = b""

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None, timeout: float | None,
            shell: bool = False, on_stdout=None, on_stderr=None) -> Outcome:
        self.calls.append(("run", list(argv), dict(env) if env else None, timeout, shell))
        if on_stdout and self.stdout:
            on_stdout(self.stdout)
        return self.fail.get(argv[0], Outcome())

    def put(self, local: Path, remote: str, *, recursive: bool) -> None:
        self.calls.append(("put", local, remote, recursive))

    def reboot_and_wait(self, timeout: float) -> None:
        self.calls.append(("reboot", timeout))

    def file_exists(self, path: str) -> bool:
        self.polls += 1
        return self.file_after is not None and self.polls >= self.file_after

    def port_listening(self, port: int) -> bool:
        self.polls += 1
        return self.port_after is not None and self.polls >= self.port_after

    def runs(self) -> list[list[str]]:
        return [c[1] for c in self.calls if c[0] == "run"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def write_plan(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def run(plan, guest, state=None, **kw):
    clock = FakeClock()
    events: list[ProvisionEvent] = []
    result = run_plan(plan, guest, state if state is not None else MemoryState(),
                      on_event=events.append, sleep=clock.sleep, clock=clock, **kw)
    return result, events, clock


FULL = """\
env: {APP_ENV: test}
steps:
  - name: packages
    run: [sh, -c, "echo hi > /root/hello"]
    env: {X: "1", APP_ENV: override}
    timeout: 60
  - run: "uname -a"
  - script: scripts/setup.sh
    args: [one, "two words", 3]
  - copy: {src: files/app.conf, dest: /etc/app.conf}
  - copy: {src: files, dest: /opt/files}
  - reboot: {}
  - wait_file: /run/app.ready
    timeout: 30
  - wait_port: 8080
"""


@pytest.fixture
def full(tmp_path: Path) -> Path:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts/setup.sh").write_text("#!/bin/sh\necho setup\n")
    (tmp_path / "files").mkdir()
    (tmp_path / "files/app.conf").write_text("a=1\n")
    return write_plan(tmp_path, FULL)


# --------------------------------------------------------------------------- parsing


def test_parses_every_kind_with_defaults(full: Path, tmp_path: Path) -> None:
    plan = load_plan(full)
    s = plan.steps
    assert plan.source == full
    assert [x.kind for x in s] == ["run", "run", "script", "copy", "copy", "reboot", "wait_file", "wait_port"]
    assert [x.name for x in s] == ["packages"] + [f"step-{i}" for i in range(2, 9)]
    assert [x.index for x in s] == list(range(1, 9))
    assert s[0].argv == ("sh", "-c", "echo hi > /root/hello") and not s[0].shell
    assert s[0].env_map == {"APP_ENV": "override", "X": "1"} and s[0].timeout == 60
    assert s[1].argv == ("uname -a",) and s[1].shell and s[1].env_map == {"APP_ENV": "test"}
    assert s[1].timeout == 600
    assert s[2].local == (tmp_path / "scripts/setup.sh").resolve() and s[2].args == ("one", "two words", "3")
    assert s[3].dest == "/etc/app.conf" and not s[3].recursive and s[3].timeout is None
    assert s[4].recursive
    assert s[5].timeout == 300
    assert s[6].path == "/run/app.ready" and s[6].timeout == 30
    assert s[7].port == 8080 and s[7].timeout == 120
    assert all(x.key.startswith(f"{x.index}-") and len(x.key) == len(f"{x.index}-") + 12 for x in s)


def test_keys_are_stable_and_follow_content(full: Path, tmp_path: Path) -> None:
    first = [s.key for s in load_plan(full).steps]
    assert [s.key for s in load_plan(full).steps] == first
    (tmp_path / "scripts/setup.sh").write_text("#!/bin/sh\necho changed\n")
    (tmp_path / "files/app.conf").write_text("a=2\n")
    second = [s.key for s in load_plan(full).steps]
    assert [a == b for a, b in zip(first, second)] == [True, True, False, False, False, True, True, True]
    # the name and timeout are not part of what a step does
    full.write_text(FULL.replace("name: packages", "name: pkgs").replace("timeout: 60", "timeout: 61"))
    assert load_plan(full).steps[0].key == second[0]
    full.write_text(FULL.replace('X: "1"', 'X: "2"'))
    assert load_plan(full).steps[0].key != second[0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("- 5\n", "step 1: must be a mapping"),
        ("- name: x\n", "step 1 (x): has no action"),
        ("- {run: [a], script: s.sh}\n", "step 1 (step-1): has several actions (run, script)"),
        ("- {run: [a], bogus: 1}\n", "step 1 (step-1): unknown key(s) for a run step: bogus"),
        ("- {run: [a]}\n- {copy: {src: p.yaml, dest: /x}, env: {A: b}}\n", "step 2 (step-2): unknown key(s) for a copy step: env"),
        ("- {reboot: {}, args: [a]}\n", "unknown key(s) for a reboot step: args"),
        ("- {run: []}\n", "step 1 (step-1): run must be a non-empty argv list"),
        ("- {run: 5}\n", "run must be a non-empty argv list"),
        ("- {run: [a, {b: c}]}\n", "run: item 2 must be a string"),
        ("- {run: [a, true]}\n", "run: item 2 must be a string"),
        ("- {run: '  '}\n", "run: must be a non-empty string"),
        ("- {run: [a], env: {1BAD: x}}\n", "env: invalid variable name '1BAD'"),
        ("- {run: [a], env: {A-B: x}}\n", "invalid variable name 'A-B'"),
        ("- {run: [a], env: {A: [1]}}\n", "env: A must be a string"),
        ("- {run: [a], env: {A: yes}}\n", "env: A must be a string"),
        ("- {run: [a], env: [A]}\n", "env must be a mapping"),
        ("- {run: [a], timeout: 0}\n", "timeout must be seconds"),
        ("- {run: [a], timeout: -1}\n", "timeout must be seconds"),
        ("- {run: [a], timeout: 86401}\n", "timeout must be seconds"),
        ("- {run: [a], timeout: '60'}\n", "timeout must be seconds"),
        ("- {run: [a], timeout: true}\n", "timeout must be seconds"),
        ("- {script: p.yaml, args: a}\n", "args must be a list"),
        ("- {copy: {src: p.yaml}}\n", "copy must be a mapping with exactly src and dest"),
        ("- {copy: {src: p.yaml, dest: etc/x}}\n", "copy dest: 'etc/x' must be an absolute guest path"),
        ("- {reboot: {now: true}}\n", "reboot takes no options"),
        ("- {wait_file: relative}\n", "must be an absolute guest path"),
        ("- {wait_port: 0}\n", "wait_port must be a port number"),
        ("- {wait_port: 70000}\n", "wait_port must be a port number"),
        ("- {wait_port: '80'}\n", "wait_port must be a port number"),
        ("- {run: [a], name: ''}\n", "step 1: name must be a non-empty printable string"),
        ("- {run: [a], name: x}\n- {run: [b], name: x}\n", "step 2: name 'x' is already used by step 1"),
        ("- {run: [a]}\n- {run: [b], name: step-1}\n", "name 'step-1' is already used by step 1"),
        ("- {script: /etc/passwd}\n", "script: /etc/passwd is absolute"),
        ("- {script: ../outside.sh}\n", "script: ../outside.sh leads outside"),
        ("- {copy: {src: sub/../../outside.sh, dest: /x}}\n", "leads outside"),
        ("- {script: sub}\n", "script sub is not a regular file"),
    ],
)
def test_step_validation_errors(tmp_path: Path, body: str, message: str) -> None:
    base = tmp_path / "base"
    (base / "sub").mkdir(parents=True)
    (tmp_path / "outside.sh").write_text("#!/bin/sh\n")
    path = base / "p.yaml"
    path.write_text("steps:\n" + textwrap.indent(body, "  "))
    with pytest.raises(InvalidInput) as err:
        load_plan(path)
    assert message in err.value.message
    assert err.value.hint


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- run: [a]\n", "must be a mapping with 'steps'"),
        ("steps: []\n", "'steps' must be a non-empty list"),
        ("steps: {run: a}\n", "'steps' must be a non-empty list"),
        ("{steps: [{run: [a]}], extra: 1}\n", "unknown top-level key(s): extra"),
        ("{env: {B@D: 1}, steps: [{run: [a]}]}\n", "top-level env: invalid variable name"),
        ("steps: [\n", "is not valid YAML at line"),
        ("", "must be a mapping"),
    ],
)
def test_plan_validation_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        load_plan(write_plan(tmp_path, text))
    assert message in err.value.message


def test_missing_files_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_plan(tmp_path / "nope.yaml")
    for body in ("[{script: missing.sh}]", "[{copy: {src: missing, dest: /x}}]"):
        with pytest.raises(NotFound, match="step 1 .*missing"):
            load_plan(write_plan(tmp_path, f"steps: {body}\n"))


def test_size_and_encoding_limits(tmp_path: Path) -> None:
    big = write_plan(tmp_path, "steps: [{run: [a]}]\n#" + "x" * (1024 * 1024) + "\n", "big.yaml")
    with pytest.raises(InvalidInput, match="larger than 1 MiB"):
        load_plan(big)
    (tmp_path / "big.sh").write_bytes(b"#" * (1024 * 1024 + 1))
    with pytest.raises(InvalidInput, match="larger than 1 MiB"):
        load_plan(write_plan(tmp_path, "steps: [{script: big.sh}]\n"))
    (tmp_path / "latin.yaml").write_bytes(b"steps: [{run: [\xe9]}]\n")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_plan(tmp_path / "latin.yaml")
    with pytest.raises(InvalidInput, match="not a regular file"):
        load_plan(tmp_path)


def test_symlinks_leading_outside_are_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    (base / "tree").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.symlink(secret, base / "link.sh")
    with pytest.raises(InvalidInput, match="leads outside"):
        load_plan(write_plan(base, "steps: [{script: link.sh}]\n"))
    os.symlink(secret, base / "tree/inner")
    with pytest.raises(InvalidInput, match="symlink leading outside"):
        load_plan(write_plan(base, "steps: [{copy: {src: tree, dest: /t}}]\n"))
    # a symlink that stays inside is fine
    (base / "real.sh").write_text("#!/bin/sh\n")
    os.symlink(base / "real.sh", base / "ok.sh")
    assert load_plan(write_plan(base, "steps: [{script: ok.sh}]\n")).steps[0].local == base / "real.sh"


# --------------------------------------------------------------------------- executor


def test_runs_every_step_in_order(full: Path, tmp_path: Path) -> None:
    plan = load_plan(full)
    guest = FakeGuest(file_after=1, port_after=2)
    state = MemoryState()
    result, events, _ = run(plan, guest, state)
    script = plan.steps[2]
    remote = f"/tmp/vmctl-provision/{script.key}.sh"
    assert guest.calls == [
        ("run", ["sh", "-c", "echo hi > /root/hello"], {"APP_ENV": "override", "X": "1"}, 60.0, False),
        ("run", ["uname -a"], {"APP_ENV": "test"}, 600.0, True),
        ("run", ["mkdir", "-p", "-m", "0700", "/tmp/vmctl-provision"], None, 600.0, False),
        ("put", (tmp_path / "scripts/setup.sh").resolve(), remote, False),
        ("run", ["chmod", "0700", remote], None, 600.0, False),
        ("run", [remote, "one", "two words", "3"], {"APP_ENV": "test"}, 600.0, False),
        ("put", (tmp_path / "files/app.conf").resolve(), "/etc/app.conf", False),
        ("put", (tmp_path / "files").resolve(), "/opt/files", True),
        ("reboot", 300.0),
    ]
    assert result.ran == [s.name for s in plan.steps] and result.skipped == []
    assert state.done == [s.key for s in plan.steps]
    assert state.saves == len(plan.steps)
    assert [(e.step_index, e.kind) for e in events[:2]] == [(1, "start"), (1, "done")]
    assert events[0].detail == "sh -c 'echo hi > /root/hello'"
    assert events[2].detail == "shell: uname -a"


def test_argv_with_shell_syntax_stays_one_list(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, """\
        steps:
          - run: [echo, "a; rm -rf /", "$(id)", "it's \\"quoted\\"", "`x`"]
        """))
    guest = FakeGuest()
    run(plan, guest)
    assert guest.calls[0][1] == ["echo", "a; rm -rf /", "$(id)", "it's \"quoted\"", "`x`"]
    assert guest.calls[0][4] is False


def test_output_goes_to_callbacks(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{run: [a]}]\n"))
    seen: list[bytes] = []
    run(plan, FakeGuest(stdout=b"hello\n"), on_stdout=seen.append)
    assert seen == [b"hello\n"]


def _three_steps(tmp_path: Path, second: str = "b") -> Path:
    return write_plan(tmp_path, f"steps: [{{run: [a]}}, {{run: [{second}]}}, {{run: [c]}}]\n")


def test_failure_names_the_step_and_resume_skips_done_steps(tmp_path: Path) -> None:
    plan = load_plan(_three_steps(tmp_path))
    state = MemoryState()
    output = "\n".join(f"line {i}" for i in range(50))
    guest = FakeGuest(fail={"b": Outcome(3, output)})
    with pytest.raises(StepFailed) as err:
        run(plan, guest, state)
    assert isinstance(err.value, GuestError)
    assert err.value.message == "step 2 (step-2) failed: b exited with status 3"
    assert "line 49" in err.value.hint and "line 29" not in err.value.hint
    assert state.done == [plan.steps[0].key]
    guest = FakeGuest()
    result, events, _ = run(plan, guest, state)
    assert guest.runs() == [["b"], ["c"]]
    assert result.skipped == ["step-1"] and result.ran == ["step-2", "step-3"]
    assert events[0].kind == "skipped"
    assert state.done == [s.key for s in plan.steps]
    guest = FakeGuest()
    assert run(plan, guest, state)[0].ran == [] and guest.calls == []


def test_failed_event_is_emitted(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{name: boom, run: \"false\\nmore\"}]\n"))
    events: list[ProvisionEvent] = []
    with pytest.raises(StepFailed, match=r"step 1 \(boom\) failed: shell: false \.\.\. exited with status 1"):
        run_plan(plan, FakeGuest(fail={"false\nmore": Outcome(1)}), MemoryState(), on_event=events.append)
    assert [e.kind for e in events] == ["start", "failed"]
    assert "status 1" in events[-1].detail


def test_edited_step_reruns_from_there(tmp_path: Path) -> None:
    state = MemoryState()
    old = load_plan(_three_steps(tmp_path))
    run(old, FakeGuest(), state)
    new = load_plan(_three_steps(tmp_path, second="b2"))
    guest = FakeGuest(fail={"c": Outcome(1)})
    with pytest.raises(StepFailed):
        run(new, guest, state)
    assert guest.runs() == [["b2"], ["c"]]
    # the old keys after the edit are gone, even though step 3 itself did not change
    assert state.done == [new.steps[0].key, new.steps[1].key]


def test_a_changed_earlier_step_reruns_later_unchanged_ones(tmp_path: Path) -> None:
    state = MemoryState()
    run(load_plan(_three_steps(tmp_path)), FakeGuest(), state)
    state.done.pop(1)  # as if step 2 had been edited
    guest = FakeGuest()
    run(load_plan(_three_steps(tmp_path)), guest, state)
    assert guest.runs() == [["b"], ["c"]]


def test_script_helper_failure_is_a_step_failure(full: Path) -> None:
    plan = load_plan(full)
    guest = FakeGuest(fail={"chmod": Outcome(1, "chmod: denied")})
    with pytest.raises(StepFailed, match=r"step 3 \(step-3\) failed: chmod 0700 /tmp/vmctl-provision/3-"):
        run(plan, guest)


def test_script_failure_message_uses_the_local_name(full: Path) -> None:
    plan = load_plan(full)
    remote = plan.steps[2].remote_script
    with pytest.raises(StepFailed, match=r"script scripts/setup.sh one 'two words' 3 exited with status 2"):
        run(plan, FakeGuest(fail={remote: Outcome(2)}))


def test_guest_errors_are_prefixed_with_the_step(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{copy: {src: plan.yaml, dest: /x}}]\n"))

    class Broken(FakeGuest):
        def put(self, local, remote, *, recursive):
            raise OperationFailed("upload failed", "check the disk")

    state = MemoryState(done=["stale"])
    with pytest.raises(OperationFailed) as err:
        run(plan, Broken(), state)
    assert err.value.message == "step 1 (step-1): upload failed" and err.value.hint == "check the disk"
    assert state.done == []


def test_wait_file_polls_until_present(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{wait_file: /run/x, timeout: 10}]\n"))
    guest = FakeGuest(file_after=4)
    _, _, clock = run(plan, guest)
    assert guest.polls == 4 and clock.sleeps == [0.5, 0.5, 0.5]


@pytest.mark.parametrize("kind", ["wait_file: /run/x", "wait_port: 8080"])
def test_waits_time_out_with_a_fake_clock(tmp_path: Path, kind: str) -> None:
    plan = load_plan(write_plan(tmp_path, f"steps: [{{name: ready, {kind}, timeout: 2}}]\n"))
    guest = FakeGuest()
    with pytest.raises(Timeout, match=r"step 1 \(ready\): timed out after 2s") as err:
        run(plan, guest)
    assert err.value.hint
    assert guest.polls == 5  # at 0, 0.5, 1, 1.5, 2 s


def test_waits_are_bounded_even_if_the_clock_stands_still(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{wait_port: 80, timeout: 2}]\n"))
    guest = FakeGuest()
    with pytest.raises(Timeout):
        run_plan(plan, guest, MemoryState(), sleep=lambda s: None, clock=lambda: 0.0)
    assert guest.polls == 6


def test_reboot_uses_the_step_timeout(tmp_path: Path) -> None:
    plan = load_plan(write_plan(tmp_path, "steps: [{reboot: , timeout: 42}]\n"))
    guest = FakeGuest()
    run(plan, guest)
    assert guest.calls == [("reboot", 42.0)]
