"""libvirt's cpuset syntax, said back compactly; addresses every host has."""

from vmctl.policy.hostfit import format_set, parse_cpuset
from vmctl.spec.template import is_anywhere_or_loopback


def test_cpusets_parse_as_libvirt_reads_them():
    assert parse_cpuset("0-3,^2,8") == frozenset({0, 1, 3, 8})
    assert parse_cpuset("63") == frozenset({63})
    assert parse_cpuset(" 1 , 4-5") == frozenset({1, 4, 5})
    assert parse_cpuset("3-1") is None and parse_cpuset("a") is None and parse_cpuset("") is None


def test_sets_are_said_as_ranges():
    assert format_set(frozenset({0, 1, 2, 3, 8})) == "0-3,8"
    assert format_set(frozenset({0})) == "0" and format_set(frozenset()) == "none"
    assert format_set(frozenset({0, 2, 3})) == "0,2-3"


def test_wildcard_and_loopback_are_on_every_host():
    assert all(is_anywhere_or_loopback(a) for a in ("0.0.0.0", "::", "127.0.0.1", "127.1.2.3", "::1", "[::1]",
                                                    "localhost"))
    assert not any(is_anywhere_or_loopback(a) for a in ("10.1.2.3", "fd00::2", "myhost.example.org"))
