import pytest

import json

from vmctl.local import hostspeed
from vmctl.policy.timeouts import BOOT_TIMEOUT, REFERENCE_SLOWDOWN, boot_timeout, ready_timeout, scale
from vmctl.spec.domain import Accel


def test_waits_grow_on_a_slower_machine_and_never_shrink():
    assert scale(Accel.TCG, None) == 1.0
    assert scale(Accel.TCG, REFERENCE_SLOWDOWN[Accel.TCG] / 2) == 1.0
    assert boot_timeout(Accel.TCG, REFERENCE_SLOWDOWN[Accel.TCG] * 3) == pytest.approx(BOOT_TIMEOUT[Accel.TCG] * 3)
    assert ready_timeout(Accel.KVM) == 90.0


def test_the_slowdown_is_saved_per_machine(tmp_path, monkeypatch):
    path = tmp_path / "host-speed.json"
    monkeypatch.setattr(hostspeed, "cache_path", lambda: path)
    monkeypatch.setattr(hostspeed, "machine_id", lambda: "machine-a")
    hostspeed.save_slowdown("tcg", 12.345)
    assert hostspeed.measured_slowdown("tcg") == 12.35
    assert hostspeed.measured_slowdown("kvm") is None
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setattr(hostspeed, "machine_id", lambda: "machine-b")  # a copied home directory
    hostspeed.measured_slowdown.cache_clear()
    assert hostspeed.measured_slowdown("tcg") is None
    hostspeed.save_slowdown("kvm", 1.1)
    assert json.loads(path.read_text()) == {"machine": "machine-b", "kvm": {"slowdown": 1.1,
                                                                           "measured": json.loads(path.read_text())["kvm"]["measured"]}}
    hostspeed.measured_slowdown.cache_clear()


def test_a_broken_cache_file_means_not_measured(tmp_path, monkeypatch):
    path = tmp_path / "host-speed.json"
    path.write_text("{not json")
    monkeypatch.setattr(hostspeed, "cache_path", lambda: path)
    hostspeed.measured_slowdown.cache_clear()
    assert hostspeed.measured_slowdown("tcg") is None
    hostspeed.measured_slowdown.cache_clear()
