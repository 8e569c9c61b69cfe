"""How long operations show their stages and bytes: a live bar on a terminal, plain
lines when piped, JSON lines with --json, nothing with -q. The API is a stand-in that
reports a recorded sequence of steps (no libvirt here); real commands are in
tests/real/test_progress.py."""

from __future__ import annotations

import json
import sys

import pytest

from vmctl.api import Vmctl
from vmctl.cli import progress as view
from vmctl.cli.app import run
from vmctl.progress import Step
from vmctl.testing.ndjson import split

MIB = 1 << 20


def fake_copy(self, src, dest, *, recursive=False, insecure=False, progress=None):
    for done in (0, MIB, 2 * MIB, 3 * MIB, 4 * MIB):
        progress(Step("copying ./big", done, 4 * MIB))
    progress(Step("done copying"))
    return "web1"


@pytest.fixture
def copy(monkeypatch):
    monkeypatch.setattr(Vmctl, "copy", fake_copy)


def test_piped_plain_lines_first_and_last_sample(copy, capsys):
    assert run(["cp", "./big", "web1:/big"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    # the first and the last sample (the others came within LINES_EVERY seconds), then the stage
    assert lines == ["copying ./big: 0.0 MiB of 4.0 MiB (0%)", "copying ./big: 4.0 MiB of 4.0 MiB (100%)",
                     "done copying"]


def test_json_lines_then_the_result(copy, capsys):
    assert run(["cp", "./big", "web1:/big", "--json"]) == 0
    events, result = split(capsys.readouterr().out)
    assert result == {"vm": "web1", "src": "./big", "dest": "web1:/big"}
    assert events[0] == {"event": "progress", "stage": "copying ./big", "done": 0, "total": 4 * MIB}
    assert events[-2]["done"] == 4 * MIB and events[-1] == {"event": "stage", "stage": "done copying"}


def test_json_samples_are_throttled(copy, capsys, monkeypatch):
    clock = iter(range(0, 100, 2))  # two seconds between samples: each is due
    monkeypatch.setattr(view.time, "monotonic", lambda: next(clock))
    assert run(["cp", "./big", "web1:/big", "--json"]) == 0
    events, _ = split(capsys.readouterr().out)
    assert [e["done"] for e in events if e["event"] == "progress"] == [0, MIB, 2 * MIB, 3 * MIB, 4 * MIB]


def test_quiet_shows_nothing_but_the_result(copy, capsys):
    assert run(["-q", "cp", "./big", "web1:/big"]) == 0
    assert capsys.readouterr() == ("", "")
    assert run(["cp", "-q", "./big", "web1:/big", "--json"]) == 0
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == [
        {"vm": "web1", "src": "./big", "dest": "web1:/big"}]


def test_terminal_gets_a_live_bar_and_lasting_lines(copy, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", "100")
    assert run(["cp", "./big", "web1:/big"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "\x1b[" in err                      # drawn for a terminal (cursor movement, colour)
    assert "━" in err                          # the bar was shown
    assert "copying ./big: 4.0 MiB" in err     # a lasting line once the transfer finished
    assert "done copying" in err


def test_stage_texts_are_not_rich_markup(monkeypatch, capsys):
    def fake(self, src, dest, *, recursive=False, insecure=False, progress=None):
        progress(Step("copying [bold]x[/bold]"))
        return "web1"
    monkeypatch.setattr(Vmctl, "copy", fake)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert run(["cp", "x", "web1:/x"]) == 0
    assert "copying [bold]x[/bold]" in capsys.readouterr().err
