"""Write-ahead in ops/migrate.py: the record learns of post-copy before the switch is
asked for, and of lifted snapshots before they are lifted (nothing real here: the
kernel of this project's machines has no userfaultfd, so no real post-copy runs)."""

from vmctl.ops import migrate as mig
from vmctl.policy.migration import Action, Decision


class Recorder:
    def __init__(self):
        self.calls: list[str] = []
        self.postcopy = False
        self.plan = type("P", (), {"copy": False})()
        self.src_pool = "pool"

    def warn(self, text):
        self.calls.append("warn")

    def note(self, **facts):
        assert not self.postcopy, "noted after the switch"
        self.calls.append(f"note {sorted(facts)}")

    def start_postcopy(self):
        self.calls.append("start_postcopy")


def test_postcopy_is_recorded_before_the_switch():
    run = Recorder()
    mig._apply(run, run, Decision(Action.POSTCOPY, reason="not complete after 5 s"))
    assert run.calls == ["warn", "note ['postcopy']", "start_postcopy"] and run.postcopy


def test_a_failed_note_means_no_switch():
    run = Recorder()

    def broken(**facts):
        raise OSError("pool gone")
    run.note = broken
    try:
        mig._apply(run, run, Decision(Action.POSTCOPY))
    except OSError:
        pass
    assert "start_postcopy" not in run.calls and not run.postcopy


def test_snapshots_are_noted_before_they_are_lifted(monkeypatch):
    run = Recorder()
    dom = type("D", (), {"name": "mk"})()
    monkeypatch.setattr(mig, "check_can_travel", lambda d, copy: 2)
    monkeypatch.setattr(mig.carry, "lift", lambda d, pool: run.calls.append("lift"))
    mig._lift_snapshots(run, dom)
    assert run.calls == ["note ['snapshots']", "lift"]
    run.calls.clear()
    monkeypatch.setattr(mig, "check_can_travel", lambda d, copy: 0)
    mig._lift_snapshots(run, dom)
    assert run.calls == []
