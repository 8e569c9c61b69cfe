"""Where a stack's VMs go: named hosts, label expressions (spread, never drained), HERE."""

from __future__ import annotations

from dataclasses import replace

import pytest

from vmctl.errors import InvalidInput, NotFound
from vmctl.policy.stackplace import HERE, assign, candidates, drained_targets
from vmctl.spec.hosts import HostEntry
from vmctl.spec.stack import parse_stack

HOSTS = [HostEntry("hv1", "qemu:///a", (("zone", "a"),)), HostEntry("hv2", "qemu:///b", (("zone", "a"),)),
         HostEntry("hv3", "qemu:///c", (("zone", "b"),))]


def stack(body: str):
    return parse_stack("version: 1\nname: s\n" + body, "stack.yaml", {})


def test_named_labelled_and_unplaced_entries():
    s = stack("vms:\n  web: {count: 3, host: zone=a}\n  db: {host: hv3}\n  tool: {}\n")
    options = candidates(s, HOSTS)
    assert options == {"web": ("hv1", "hv2"), "db": ("hv3",), "tool": (HERE,)}
    where, misplaced = assign(s, options, {})
    assert where == {"web-1": "hv1", "web-2": "hv2", "web-3": "hv1", "db": "hv3", "tool": HERE}
    assert misplaced == {}


def test_existing_vms_stay_and_new_ones_spread_around_them():
    s = stack("vms:\n  web: {count: 3, host: zone=a}\n")
    where, misplaced = assign(s, candidates(s, HOSTS), {"web-1": "hv2", "web-2": "hv2"})
    assert where == {"web-1": "hv2", "web-2": "hv2", "web-3": "hv1"} and misplaced == {}


def test_a_vm_on_a_host_the_file_no_longer_allows_is_misplaced_not_moved():
    s = stack("vms:\n  db: {host: hv3}\n")
    where, misplaced = assign(s, candidates(s, HOSTS), {"db": "hv1"})
    assert where == {"db": "hv1"} and "on host hv1, the file places it on hv3" in misplaced["db"]


def drain(*names: str) -> list[HostEntry]:
    return [replace(h, drained=h.name in names) for h in HOSTS]


def test_drained_hosts_are_never_chosen():
    s = stack("vms:\n  web: {count: 2, host: zone=a}\n")
    assert candidates(s, drain("hv1")) == {"web": ("hv2",)}
    with pytest.raises(InvalidInput, match="only drained ones"):
        candidates(s, drain("hv1", "hv2"))


def test_a_new_vm_on_a_drained_named_host_is_refused_an_existing_one_stays():
    s = stack("vms:\n  db: {host: hv3}\n")
    entries = drain("hv3")
    assert drained_targets(s, entries) == {"db": "hv3"}
    with pytest.raises(InvalidInput, match="host hv3 is drained: no new VM"):
        assign(s, candidates(s, entries), {}, drained=drained_targets(s, entries))
    assert assign(s, candidates(s, entries), {"db": "hv3"}, drained=drained_targets(s, entries))[0] == {"db": "hv3"}


def test_a_chooser_decides_among_several_hosts():
    s = stack("vms:\n  web: {count: 2, host: zone=a}\n  db: {host: hv3}\n")
    asked = []

    def choose(vm, spec, allowed):
        asked.append((vm, spec.name, allowed))
        return allowed[-1]
    where, _ = assign(s, candidates(s, HOSTS), {}, choose)
    assert where == {"web-1": "hv2", "web-2": "hv2", "db": "hv3"}
    assert asked == [("web-1", "web", ("hv1", "hv2")), ("web-2", "web", ("hv1", "hv2"))]  # one host: no choice


def test_unknown_host_and_unmatched_labels_are_refused_with_the_key():
    with pytest.raises(NotFound, match=r"stack.yaml: vms.db.host: no host 'hv9' in the hosts inventory"):
        candidates(stack("vms:\n  db: {host: hv9}\n"), HOSTS)
    with pytest.raises(InvalidInput, match=r"vms.db.host: no host of the inventory has the labels zone=c: none"):
        candidates(stack("vms:\n  db: {host: zone=c}\n"), HOSTS)


def test_a_private_network_must_stay_on_one_host():
    s = stack("networks: {lan: {}}\nvms:\n  web: {count: 2, host: zone=a, networks: [lan]}\n")
    with pytest.raises(InvalidInput, match=r"networks.lan: its VMs would be on hosts hv1, hv2") as exc:
        assign(s, candidates(s, HOSTS), {})
    assert "same `host:`" in exc.value.hint
    together = stack("networks: {lan: {}}\nvms:\n  web: {count: 2, host: hv1, networks: [lan]}\n  db: {host: hv1}\n")
    assert set(assign(together, candidates(together, HOSTS), {})[0].values()) == {"hv1"}
