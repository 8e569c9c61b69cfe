import json
import stat

from vmctl.guest.consolelog import ConsoleLog
from vmctl.ops.bundle import write_bundle
from vmctl.ops.gc import run_started
from vmctl.ops.run import RunResult, _outcome
from vmctl.errors import Interrupted, OperationFailed, Timeout
from vmctl.ops.vms import VmInfo


def test_the_console_log_keeps_the_newest_bytes_only():
    log = ConsoleLog(limit=10)
    log.add(b"0123456789")
    log.add(b"abc")
    assert log.text() == "3456789abc"
    log.add(b"X" * 25)
    assert log.text() == "X" * 10


def test_the_bundle_is_private_and_complete(tmp_path):
    result = RunResult("run-1", "failed", 7, {"booted": 1.0})
    bundle = write_bundle(tmp_path / "art", "run-1", result=result.to_dict(), console="boot\n",
                          info={"name": "run-1"}, events=[{"event": "planned"}], guest_logs={"dmesg.txt": "k\n"})
    assert bundle.path == tmp_path / "art" / "run-1"
    assert set(bundle.files) == {"result.json", "console.log", "events.jsonl", "info.json", "dmesg.txt"}
    assert stat.S_IMODE(bundle.path.stat().st_mode) == 0o700
    assert all(stat.S_IMODE((bundle.path / f).stat().st_mode) == 0o600 for f in bundle.files)
    assert json.loads((bundle.path / "result.json").read_text())["exit_status"] == 7
    assert (bundle.path / "events.jsonl").read_text() == '{"event": "planned"}\n'


def test_the_bundle_never_follows_a_planted_symlink(tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep")
    (tmp_path / "art" / "run-1").mkdir(parents=True)
    (tmp_path / "art" / "run-1" / "console.log").symlink_to(target)
    try:
        write_bundle(tmp_path / "art", "run-1", result={}, console="x", info=None, events=[], guest_logs={})
    except OSError:
        pass
    assert target.read_text() == "keep"


def test_outcomes():
    assert _outcome(0, None) == "succeeded"
    assert _outcome(3, None) == "failed"
    assert _outcome(None, Timeout("t")) == "timeout"
    assert _outcome(None, Interrupted(15)) == "cancelled"
    assert _outcome(None, KeyboardInterrupt()) == "cancelled"
    assert _outcome(None, OperationFailed("x")) == "error"


def _vm(labels):
    return VmInfo("run-1", "u", "running", 1, 512, "tcg", "", "t", "tiny", "root", 2222, "", "", "", [], True,
                  labels=labels)


def test_only_run_vms_have_a_start_time():
    assert run_started(_vm({"vmctl.run": "kept", "vmctl.run-started": "1700000000"})) == 1700000000
    assert run_started(_vm({"vmctl.run": "kept"})) is None
    assert run_started(_vm({"vmctl.run-started": "1700000000"})) is None  # not a run VM: never touched
