"""Liveness of an intent record's owner: evidence, never a guess."""

from vmctl.policy.liveness import HEARTBEAT_TIMEOUT, owner_alive
from vmctl.spec.intent import Owner

ME = Owner(machine="m1", boot="b1", pid=100, start=500, hostname="h", user="root", pidns="pid:[1]")
NOW = 10_000.0
FRESH, STALE = NOW - 1, NOW - HEARTBEAT_TIMEOUT - 1


def owner(**changes) -> Owner:
    base = dict(machine="m1", boot="b1", pid=4242, start=777, hostname="h", user="root", pidns="pid:[1]")
    return Owner(**{**base, **changes})


def alive(o: Owner, heartbeat: float, *, start=None, exists=False) -> bool:
    return owner_alive(o, heartbeat, me=ME, now=NOW, process_start=lambda pid: start,
                       pid_exists=lambda pid: exists)


def test_our_pid_space_process_running_with_the_recorded_start_is_alive_even_with_a_stale_heartbeat():
    assert alive(owner(), STALE, start=777, exists=True)


def test_our_pid_space_gone_or_reused_pid_is_dead_even_with_a_fresh_heartbeat():
    assert not alive(owner(), FRESH, start=None, exists=False)
    assert not alive(owner(), FRESH, start=999, exists=True)  # the pid was reused by a later process


def test_a_hidden_process_hidepid_is_judged_by_its_heartbeat():
    assert alive(owner(), FRESH, start=None, exists=True)
    assert not alive(owner(), STALE, start=None, exists=True)


def test_a_container_sharing_our_machine_id_in_another_pid_namespace_is_judged_by_its_heartbeat():
    other = owner(pidns="pid:[2]")
    assert alive(other, FRESH, start=None, exists=False)  # our /proc says nothing about its pids
    assert not alive(other, STALE, start=None, exists=False)


def test_same_machine_id_another_boot_is_a_clone_or_a_restart_the_heartbeat_tells():
    assert alive(owner(boot="b0"), FRESH)
    assert not alive(owner(boot="b0"), STALE)


def test_another_machine_is_judged_by_its_heartbeat():
    assert alive(owner(machine="m2", boot="x"), FRESH)
    assert not alive(owner(machine="m2", boot="x"), STALE)


def test_format_1_records_without_a_pid_namespace_keep_their_rules():
    legacy = owner(pidns="")
    assert alive(legacy, STALE, start=777, exists=True)
    assert not alive(legacy, FRESH, start=None, exists=False)
    assert not alive(owner(pidns="", boot="b0"), FRESH)  # this machine restarted since
