from pathlib import Path

import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.request import CreateRequest
from vmctl.spec.run import GUEST_SCRIPT, RUN_PREFIX, Collect, RunRequest, new_run_name
from vmctl.spec.units import parse_duration


def test_collect_parses_guest_path_and_host_dir():
    c = Collect.parse("/var/log/app:./out")
    assert c.guest_path == "/var/log/app" and c.host_dir == Path("out")
    assert Collect.parse("/a:b:c").host_dir == Path("b:c")  # the first colon splits


@pytest.mark.parametrize("text", ["", "/a", ":dir", "/a:", "relative:dir"])
def test_bad_collect_is_refused(text):
    with pytest.raises(InvalidInput):
        Collect.parse(text)


def test_a_run_needs_a_command_or_a_script(tmp_path):
    with pytest.raises(InvalidInput, match="needs a command"):
        RunRequest(CreateRequest("run-x"))
    with pytest.raises(InvalidInput, match="no such file"):
        RunRequest(CreateRequest("run-x"), script=tmp_path / "missing.sh")
    with pytest.raises(InvalidInput, match="always starts"):
        RunRequest(CreateRequest("run-x", start=False), argv=("true",))
    with pytest.raises(InvalidInput, match="positive"):
        RunRequest(CreateRequest("run-x"), argv=("true",), timeout=0)


def test_a_script_runs_from_its_upload_path_with_the_words_as_arguments(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/sh\n")
    req = RunRequest(CreateRequest("run-x"), argv=("a", "b"), script=script)
    assert req.guest_argv() == (GUEST_SCRIPT, "a", "b")
    assert RunRequest(CreateRequest("run-x"), argv=("make", "test")).guest_argv() == ("make", "test")


def test_run_names_are_valid_vm_names_and_differ():
    names = {new_run_name() for _ in range(20)}
    assert len(names) == 20 and all(n.startswith(RUN_PREFIX) for n in names)
    for name in names:
        CreateRequest(name)  # checked as a VM name


@pytest.mark.parametrize("text,seconds", [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400),
                                          ("1.5h", 5400), ("0", 0)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "-1h", "2y", "1 h 2"])
def test_bad_durations(text):
    with pytest.raises(InvalidInput):
        parse_duration(text)
