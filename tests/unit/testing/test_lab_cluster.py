"""The lab's own checks, before it touches anything."""

import os

import pytest

from vmctl.cli.app import run
from vmctl.errors import HostError, InvalidInput
from vmctl.testing.lab.cluster import Lab


def test_the_lab_needs_root(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    for call in (lambda lab: lab.up(2), lambda lab: lab.down(), lambda lab: lab.status()):
        with pytest.raises(HostError, match="needs root"):
            call(Lab(tmp_path / "lab"))
    monkeypatch.setenv("VMCTL_LAB_DIR", str(tmp_path / "lab"))
    assert run(["lab", "up"]) == 7
    assert "the lab needs root" in capsys.readouterr().err
    assert not (tmp_path / "lab").exists()


def test_bad_arguments_are_refused_first(tmp_path):
    with pytest.raises(InvalidInput):
        Lab(tmp_path / "lab").up(0)
    with pytest.raises(InvalidInput):
        Lab(tmp_path / "lab").up(9)
    with pytest.raises(InvalidInput, match="absolute"):
        Lab(tmp_path.relative_to(tmp_path.anchor))
