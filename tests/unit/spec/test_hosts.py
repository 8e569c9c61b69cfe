"""The hosts inventory's entries and file format (vmctl.spec.hosts): pure checks."""

from __future__ import annotations

import pytest

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.spec.hosts import (HostEntry, check_host_uri, find_entry, inventory_document, make_entry, parse_inventory,
                              with_drained, with_entry, without_entry)

SRC = "/cfg/hosts.yaml"


def test_a_document_round_trips():
    entries = (make_entry("hv1", "qemu+ssh://root@hv1/system", {"rack": "a"}), make_entry("t", "test:///default"))
    doc = inventory_document(entries)
    assert doc == {"version": 1, "hosts": [{"name": "hv1", "uri": "qemu+ssh://root@hv1/system",
                                            "labels": {"rack": "a"}}, {"name": "t", "uri": "test:///default"}]}
    assert parse_inventory(doc, SRC) == entries
    assert entries[0].to_dict() == {"name": "hv1", "uri": "qemu+ssh://root@hv1/system", "labels": {"rack": "a"},
                                    "drained": False}


def test_empty_file_and_empty_list_are_empty_inventories():
    assert parse_inventory(None, SRC) == ()
    assert parse_inventory({"version": 1, "hosts": []}, SRC) == ()
    assert parse_inventory({"version": 1}, SRC) == ()


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu:///session", "qemu+ssh://root@hv1.example:2222/system",
                                 "qemu+tls://hv1/system", "test:///default", "test:///tmp/node.xml",
                                 "qemu+ssh://u@h/system?keyfile=/home/u/.ssh/id_ed25519&no_verify=0"])
def test_libvirt_uris_are_accepted_by_form(uri):
    assert check_host_uri(uri) == uri


@pytest.mark.parametrize("uri", ["", "hv1", "/var/run/libvirt", "qemu:/system", "9p:///system", "qemu+ssh://h /x",
                                 "qemu+ssh://h:port/system", "qemu:///system\n"])
def test_malformed_uris_are_invalid(uri):
    with pytest.raises(InvalidInput, match="invalid libvirt URI"):
        check_host_uri(uri)


def test_a_uri_with_a_password_is_refused_without_showing_it():
    with pytest.raises(InvalidInput) as caught:
        check_host_uri("qemu+ssh://root:hunter2@hv1/system")
    assert "hunter2" not in caught.value.message and "password" in caught.value.message
    assert "SSH key" in caught.value.hint


def test_names_and_labels_use_the_common_checks():
    with pytest.raises(InvalidInput, match="invalid host name 'HV1'"):
        make_entry("HV1", "qemu:///system")
    with pytest.raises(InvalidInput, match="invalid label key"):
        make_entry("hv1", "qemu:///system", {"Rack": "a"})
    with pytest.raises(InvalidInput, match="invalid value"):
        make_entry("hv1", "qemu:///system", {"rack": "a b"})
    assert make_entry("hv1", "qemu:///system", {"z": "1", "a": "2"}).labels == (("a", "2"), ("z", "1"))


@pytest.mark.parametrize("data, message", [
    (["hv1"], "not an inventory"),
    ({"version": 1, "hosts": [], "extra": 1}, "unknown key 'extra'"),
    ({"hosts": []}, "inventory version None is not 1"),
    ({"version": "1", "hosts": []}, "version '1' is not 1"),
    ({"version": 1, "hosts": {"hv1": "qemu:///system"}}, "'hosts' is not a list"),
    ({"version": 1, "hosts": ["hv1"]}, r"hosts\[0\]: not a mapping"),
    ({"version": 1, "hosts": [{"name": "hv1", "url": "qemu:///system"}]}, r"hosts\[0\] \(hv1\): unknown key 'url'"),
    ({"version": 1, "hosts": [{"name": "hv1"}]}, r"hosts\[0\] \(hv1\): 'uri' is missing"),
    ({"version": 1, "hosts": [{"uri": "qemu:///system"}]}, r"hosts\[0\]: 'name' is missing"),
    ({"version": 1, "hosts": [{"name": "a", "uri": "qemu:///system"}, {"name": "a", "uri": "test:///default"}]},
     "host 'a' is listed twice"),
    ({"version": 1, "hosts": [{"name": "a", "uri": "qemu:///system", "labels": ["x"]}]}, "'labels' is not a mapping"),
    ({"version": 1, "hosts": [{"name": "a", "uri": "qemu:///system", "labels": {"ssd": True}}]},
     "label 'ssd' is not a string"),
    ({"version": 1, "hosts": [{"name": "a", "uri": "qemu+ssh://u:pw@h/system"}]}, r"hosts\[0\] \(a\): the URI"),
    ({"version": 1, "hosts": [{"name": "A", "uri": "qemu:///system"}]}, r"hosts\[0\] \(A\): invalid host name"),
])
def test_malformed_documents_are_refused_naming_the_file_and_entry(data, message):
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_inventory(data, SRC)
    assert caught.value.message.startswith(SRC + ": ") and caught.value.hint
    assert "pw" not in caught.value.message


def test_a_newer_version_asks_for_a_newer_vmctl():
    with pytest.raises(InvalidInput, match="version 2") as caught:
        parse_inventory({"version": 2, "hosts": []}, SRC)
    assert "newer vmctl" in caught.value.hint


def test_integer_label_values_are_read_as_text():
    (entry,) = parse_inventory({"version": 1, "hosts": [{"name": "a", "uri": "qemu:///system",
                                                         "labels": {"rack": 7}}]}, SRC)
    assert entry.labels == (("rack", "7"),)


def test_adding_a_taken_name_conflicts_and_removing_keeps_order():
    a, b, c = (HostEntry(n, "qemu:///system") for n in "abc")
    entries = with_entry(with_entry((a,), b), c)
    assert entries == (a, b, c)
    with pytest.raises(Conflict, match="'b' is already"):
        with_entry(entries, HostEntry("b", "test:///default"))
    assert without_entry(entries, "b", SRC) == ((a, c), b)


def test_an_unknown_name_lists_the_known_ones():
    entries = (HostEntry("hv1", "qemu:///system"), HostEntry("hv2", "qemu:///system"))
    with pytest.raises(NotFound, match=f"no host 'hv3' in the inventory {SRC}") as caught:
        find_entry(entries, "hv3", SRC)
    assert "hv1, hv2" in caught.value.hint and "vmctl host ls" in caught.value.hint
    with pytest.raises(NotFound) as caught:
        without_entry((), "hv1", SRC)
    assert "vmctl host add" in caught.value.hint


def test_the_drained_flag_round_trips_and_is_written_only_when_set():
    entries = (make_entry("hv1", "qemu:///system"), make_entry("hv2", "test:///default"))
    drained = with_drained(entries, "hv2", True, SRC)
    assert [e.drained for e in drained] == [False, True] and [e.name for e in drained] == ["hv1", "hv2"]
    doc = inventory_document(drained)
    assert "drained" not in doc["hosts"][0] and doc["hosts"][1]["drained"] is True
    assert parse_inventory(doc, SRC) == drained
    assert with_drained(drained, "hv2", False, SRC) == entries
    with pytest.raises(NotFound):
        with_drained(entries, "hv3", True, SRC)


def test_an_old_file_without_the_flag_reads_as_not_drained_and_a_bad_flag_is_refused():
    old = {"version": 1, "hosts": [{"name": "hv1", "uri": "qemu:///system"}]}
    assert parse_inventory(old, SRC)[0].drained is False
    with pytest.raises(InvalidInput, match=r"hosts\[0\] \(hv1\): 'drained' is not true or false"):
        parse_inventory({"version": 1, "hosts": [{"name": "hv1", "uri": "qemu:///system", "drained": "yes"}]}, SRC)
