"""Golden pairs for in-place edits: ``edits/NAME-in.xml`` (a domain as ``virsh dumpxml``
shows it, with another tool's metadata) -> ``edits/NAME-out.xml``. Only the edited
facts change; everything vmctl does not model is kept."""

from __future__ import annotations

import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.edits import with_metadata, with_ssh_port
from vmctl.libvirtxml.facts import parse_domain

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH5e2b3Y0m3S1P2rJ9ZzS0xv0b8Ek4vV3tqf4mJQx1bT"
EDITS = {
    "port-move": lambda xml: with_ssh_port(xml, 12345),
    "metadata-update": lambda xml: with_metadata(xml, image="deb12", provisioned=("1-0123456789ab", "2-ba9876543210"),
                                                 ssh_host_key=HOST_KEY, ssh_key_path="/root/.ssh/id_ed25519",
                                                 snapshots=(("s1", "memory", ""), ("s2", "crash-consistent", "g"))),
}


@pytest.mark.parametrize("case", sorted(EDITS))
def test_edit_golden_pair(case, golden, data_dir):
    xml = (data_dir / "golden" / "edits" / f"{case}-in.xml").read_text()
    golden(f"edits/{case}-out.xml", EDITS[case](xml))


def test_port_move_changes_only_the_port(data_dir):
    xml = (data_dir / "golden" / "edits" / "port-move-in.xml").read_text()
    before, after = parse_domain(xml), parse_domain(with_ssh_port(xml, 12345))
    assert after.meta.ssh_port == 12345 and after.meta == before.meta.__class__(**{**before.meta.__dict__,
                                                                                   "ssh_port": 12345})
    moved = with_ssh_port(xml, 12345)
    assert "hostfwd=tcp:127.0.0.1:12345-:22" in moved and "12477" not in moved
    assert "kept as it is" in moved and "https://example.org/other-tool/1" in moved


def test_metadata_update_keeps_other_fields_and_foreign_metadata(data_dir):
    xml = (data_dir / "golden" / "edits" / "metadata-update-in.xml").read_text()
    before = parse_domain(xml).meta
    after = parse_domain(EDITS["metadata-update"](xml)).meta
    assert after.provisioned == ("1-0123456789ab", "2-ba9876543210") and after.image == "deb12"
    assert after.ssh_host_key == HOST_KEY and after.ssh_key_path == "/root/.ssh/id_ed25519"
    assert after.snapshots == (("s1", "memory", ""), ("s2", "crash-consistent", "g"))
    assert (after.template, after.ssh_port, after.accel_reason) == (before.template, before.ssh_port,
                                                                     before.accel_reason)
    assert "kept as it is" in EDITS["metadata-update"](xml)


def test_clearing_a_field_removes_it(data_dir):
    xml = (data_dir / "golden" / "edits" / "metadata-update-in.xml").read_text()
    cleared = with_metadata(xml, provisioned=(), ssh_port=None)
    meta = parse_domain(cleared).meta
    assert meta.provisioned == () and meta.ssh_port is None
    assert "vmctl:provisioned" not in cleared and '<vmctl:ssh user="root">' in cleared


def test_metadata_edit_of_a_foreign_domain_is_refused(data_dir):
    xml = (data_dir / "golden" / "edits" / "port-move-in.xml").read_text()
    start, end = xml.index("<vmctl:vm"), xml.index("</vmctl:vm>") + len("</vmctl:vm>")
    with pytest.raises(InvalidInput, match="no vmctl metadata"):
        with_metadata(xml[:start] + xml[end:], image="x")
