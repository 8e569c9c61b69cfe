"""Labels: the allowlist, their place in vmctl's metadata, and what they survive."""

from __future__ import annotations

import pytest

from vmctl.api import parse_labels
from vmctl.errors import InvalidInput
from vmctl.libvirtxml.clone import clean_template
from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.metadata import metadata_xml, surviving_revert
from vmctl.ops.templates import builtin_dir
from vmctl.spec.domain import Accel, VmMeta
from vmctl.spec.names import MAX_LABELS, check_labels, parse_label
from vmctl.spec.request import CreateRequest

from tests.unit.libvirtxml.test_domain_xml import CASES


@pytest.mark.parametrize("text,pair", [
    ("stack=web", ("stack", "web")),
    ("vmctl.test-run=1f2e-0a1b2c", ("vmctl.test-run", "1f2e-0a1b2c")),
    ("owner=Bob_2:x.y-z", ("owner", "Bob_2:x.y-z")),
    ("empty=", ("empty", "")),
])
def test_good_labels(text, pair):
    assert parse_label(text) == pair


@pytest.mark.parametrize("text,message", [
    ("noequals", "no '='"),
    ("=v", "invalid label key"),
    ("Key=v", "invalid label key"),
    ("a<b=v", "invalid label key"),
    ("k=a<b", "invalid value"),
    ("k=a&b", "invalid value"),
    ("k=\"q\"", "invalid value"),
    ("k='q'", "invalid value"),
    ("k=a b", "invalid value"),
    ("k=a;rm", "invalid value"),
    ("k=" + "x" * 64, "invalid value"),
    ("k-=v", "invalid label key"),
])
def test_bad_labels_refused(text, message):
    with pytest.raises(InvalidInput, match=message) as err:
        parse_label(text)
    assert err.value.hint


def test_labels_are_sorted_unique_and_bounded():
    assert check_labels({"b": "1", "a": "2"}) == (("a", "2"), ("b", "1"))
    with pytest.raises(InvalidInput, match="twice"):
        parse_labels(["a=1", "a=2"])
    with pytest.raises(InvalidInput, match=f"at most {MAX_LABELS}"):
        check_labels({f"k{i}": "v" for i in range(MAX_LABELS + 1)})


def test_create_request_checks_and_sorts_its_labels():
    assert CreateRequest("web1", labels=(("z", "1"), ("a", "2"))).labels == (("a", "2"), ("z", "1"))
    with pytest.raises(InvalidInput):
        CreateRequest("web1", labels=(("k", "<x>"),))


def test_labels_round_trip_through_the_domain_xml():
    template, spec = CASES["tcg-labelled"]
    meta = parse_domain(render_domain((builtin_dir() / f"{template}.xml").read_bytes(), spec)).meta
    assert meta.labels == (("stack", "web"), ("vmctl.test-run", "1f2e-0a1b2c")) and meta == spec.meta


def test_labels_survive_a_revert_to_a_definition_without_them():
    now = VmMeta(image="i", volumes=("a-vda.qcow2",), labels=(("stack", "web"),))
    restored = VmMeta(image="i", volumes=("a-vda.qcow2",))  # the definition a snapshot kept
    assert surviving_revert(now, restored).labels == (("stack", "web"),)


def test_set_metadata_carries_the_labels():
    """update_meta (setMetadata, used after a revert) writes labels like the other fields."""
    xml = metadata_xml(VmMeta(labels=(("stack", "web"),)), Accel.TCG)
    assert '<label key="stack" value="web"/>' in xml


def test_a_template_taken_from_a_labelled_vm_does_not_pass_its_labels_on():
    """Like volumes and keys, labels say who a VM belongs to: a VM made from a template
    cut from a labelled VM carries only the labels its own create gives it."""
    template, spec = CASES["tcg-labelled"]
    vm_xml = render_domain((builtin_dir() / f"{template}.xml").read_bytes(), spec)
    cleaned = clean_template(vm_xml).decode()
    assert "vmctl.test-run" not in cleaned and "stack" not in cleaned
