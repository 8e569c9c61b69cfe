"""What `vmctl migrate` prints: checks and progress on stderr, the result on stdout;
with --json one JSON object per line, errors included. The API is replaced by a
stand-in that emits a recorded sequence of events (no libvirt here)."""

from __future__ import annotations

import json

import pytest

from vmctl.api import Vmctl
from vmctl.cli.app import run
from vmctl.errors import MigrationTimeout
from vmctl.spec.migration import CheckResult, JobStats, MigrationEvent, MigrationResult

DEST = "qemu+ssh://root:pw@hv2/system?keyfile=/k&known_hosts=/kh"
STATS = JobStats(active=True, elapsed_ms=500, data_total=512 << 20, data_processed=128 << 20,
                 data_remaining=384 << 20, memory_bps=200 << 20)


def fake_migrate(fail: Exception | None = None):
    def migrate(self, name, dest_uri, *, on_event=None, dry_run=False, **options):
        on_event(MigrationEvent("check", "transport", True, "ssh to the source, ssh to the destination"))
        on_event(MigrationEvent("phase", "transfer", detail="live, shared storage"))
        on_event(MigrationEvent("progress", elapsed=0.6, stats=STATS))
        on_event(MigrationEvent("warning", detail="no data moved for 20 s"))
        if fail is not None:
            raise fail
        return MigrationResult(name, "qemu+ssh://root@hv1/system", "qemu+ssh://root:***@hv2/system?keyfile=/k",
                               "live", "shared", dry_run=dry_run, checks=[CheckResult("transport", True, "ssh")],
                               total_seconds=2.5, downtime_ms=61, bytes_moved=80 << 20, ssh_port=10022)
    return migrate


def test_people_get_checks_progress_and_a_short_result(monkeypatch, capsys):
    monkeypatch.setattr(Vmctl, "migrate", fake_migrate())
    assert run(["-c", "test:///default", "migrate", "web1", DEST]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == ("migrated web1 (live, shared storage) to qemu+ssh://root:***@hv2/system in 2.50 s "
                           "(downtime 61 ms, 80.0 MiB moved); ssh forward port 10022")
    assert "check  transport    ok     ssh to the source" in err
    assert "migrating:  25% 128.0 MiB of 512.0 MiB, 200.0 MiB/s" in err
    assert "warning: no data moved for 20 s" in err and "transfer: live, shared storage" in err
    assert "pw" not in out + err


def test_json_lines_and_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(Vmctl, "migrate", fake_migrate())
    assert run(["-c", "test:///default", "migrate", "web1", DEST, "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in events] == ["check", "phase", "progress", "warning", "result"]
    assert events[2]["data_processed"] == 128 << 20 and events[-1]["downtime_ms"] == 61
    monkeypatch.setattr(Vmctl, "migrate", fake_migrate(MigrationTimeout("did not complete within 2 s", "more")))
    assert run(["-c", "test:///default", "migrate", "web1", DEST, "--json"]) == 14
    lines = capsys.readouterr().out.splitlines()
    assert json.loads(lines[-1]) == {"error": {"code": "migration-timeout", "exit_code": 14,
                                               "message": "did not complete within 2 s", "hint": "more"}}
    assert all(json.loads(line) for line in lines)


@pytest.mark.parametrize("args", [["--on-timeout", "never"]])
def test_bad_options_are_refused_before_anything(monkeypatch, capsys, args):
    monkeypatch.setattr(Vmctl, "migrate", lambda *a, **k: pytest.fail("must not be called"))
    assert run(["-c", "test:///default", "migrate", "web1", DEST, *args]) == 3
    assert "abort or postcopy" in capsys.readouterr().err
