"""The private networks of a stack: names, MACs, addresses that stay, /etc/hosts lines."""

from __future__ import annotations

import ipaddress

import pytest

from vmctl.errors import InvalidInput
from vmctl.guest.privnet import BEGIN, END, configure_argv
from vmctl.policy.stacknet import (NET_LABEL_PREFIX, address_labels, attachments, hosts_lines, nic_mac,
                                   private_nets)
from vmctl.spec.stack import parse_stack

TEXT = """\
version: 1
name: shop
networks:
  lan: {}
  back: {subnet: 10.42.0.0/29}
vms:
  web: {count: COUNT, networks: [lan, back]}
  db: {networks: [back]}
  client: {networks: [lan]}
  lone: {}
"""


def stack(count: int = 2, text: str = TEXT):
    return parse_stack(text.replace("COUNT", str(count)), "stack.yaml", {})


def test_networks_are_named_after_the_stack_with_short_bridges():
    lan, back = private_nets(stack())
    assert (lan.name, lan.entry, str(lan.subnet)) == ("vmctl-shop-lan", "lan", "10.213.0.0/24")
    assert (back.name, str(back.subnet)) == ("vmctl-shop-back", "10.42.0.0/29")
    assert len(lan.bridge) <= 15 and lan.bridge != back.bridge and lan.bridge.startswith("vmsn")


def test_addresses_from_ten_in_file_order_and_macs_stable():
    plan = attachments(stack(), {})
    assert [(n.net.entry, n.cidr) for n in plan["web-1"]] == [("lan", "10.213.0.10/24"), ("back", "10.42.0.1/29")]
    assert [n.cidr for n in plan["client"]] == ["10.213.0.12/24"]
    assert [n.cidr for n in plan["db"]] == ["10.42.0.3/29"]
    assert plan["lone"] == []
    assert plan["web-1"][0].mac == nic_mac("shop", "web-1", "lan") == attachments(stack(), {})["web-1"][0].mac
    macs = [n.mac for nics in plan.values() for n in nics]
    assert len(set(macs)) == len(macs) and all(m.startswith("52:54:00:") for m in macs)


def test_existing_addresses_stay_when_a_replica_is_added():
    first = attachments(stack(2), {})
    existing = {vm: address_labels(nics) for vm, nics in first.items()}
    second = attachments(stack(3), existing)
    for vm in ("web-1", "web-2", "client", "db"):
        assert [n.address for n in second[vm]] == [n.address for n in first[vm]]
    assert [n.cidr for n in second["web-3"]] == ["10.213.0.13/24", "10.42.0.4/29"]
    assert existing["web-1"] == {NET_LABEL_PREFIX + "lan": "10.213.0.10", NET_LABEL_PREFIX + "back": "10.42.0.1"}


def test_a_label_outside_the_subnet_or_taken_twice_gets_a_new_address():
    plan = attachments(stack(1), {"web-1": {NET_LABEL_PREFIX + "lan": "192.168.1.5"},
                                   "client": {NET_LABEL_PREFIX + "lan": "10.213.0.10"}})
    assert plan["client"][0].address == ipaddress.IPv4Address("10.213.0.10")
    assert plan["web-1"][0].address == ipaddress.IPv4Address("10.213.0.11")


def test_a_subnet_too_small_is_refused_before_anything():
    # /29: six host addresses, seven VMs
    with pytest.raises(InvalidInput, match=r"networks.back: subnet 10.42.0.0/29 has no free address for db") as exc:
        attachments(stack(6), {})
    assert "larger subnet" in exc.value.hint


def test_hosts_lines_list_peers_on_shared_networks_with_entry_aliases():
    plan = attachments(stack(2), {})
    entry_of = {"web-1": "web", "web-2": "web", "db": "db", "client": "client", "lone": "lone"}
    assert hosts_lines("client", plan, entry_of) == ["10.213.0.10 web-1 web", "10.213.0.11 web-2 web",
                                                     "10.213.0.12 client"]
    assert hosts_lines("db", plan, entry_of) == ["10.42.0.1 web-1 web", "10.42.0.2 web-2 web", "10.42.0.3 db"]
    assert hosts_lines("web-1", plan, entry_of)[-2:] == ["10.42.0.3 db", "10.213.0.12 client"]
    assert hosts_lines("lone", plan, entry_of) == []


def test_guest_command_passes_values_as_arguments_never_as_code():
    argv = configure_argv([("52:54:00:aa:bb:cc", "10.213.0.10/24")], ["10.213.0.11 web-2 web"], sudo=True)
    assert argv[:3] == ["sudo", "-n", "sh"] and argv[3] == "-c"
    assert argv[5:] == ["vmctl-privnet", BEGIN, END, "10.213.0.11 web-2 web", "52:54:00:aa:bb:cc", "10.213.0.10/24"]
    assert "10.213" not in argv[4] and "web" not in argv[4]
