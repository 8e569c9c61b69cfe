"""`vmctl edit`'s checks on the definition vmctl rendered for tiny."""

from __future__ import annotations

import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.editcheck import check_edit, unchanged


@pytest.fixture
def xml(data_dir) -> str:
    return (data_dir / "golden" / "tcg-direct.xml").read_text()


def test_formatting_alone_is_no_change(xml):
    assert unchanged(xml, xml.replace("\n  ", "\n    "))
    assert not unchanged(xml, xml.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>"))


def test_an_ordinary_change_is_accepted(xml):
    edited = xml.replace("<vcpu>2</vcpu>", "<vcpu>3</vcpu>").replace("</devices>",
                                                                     "<watchdog model='i6300esb'/></devices>")
    assert "<vcpu>3</vcpu>" in check_edit(xml, edited)


@pytest.mark.parametrize("change, named", [
    (lambda x: x.replace("<name>tiny1</name>", "<name>other</name>"), "<name> changed"),
    (lambda x: x.replace("</devices>", "<disk type='file' device='disk'><source file='/etc/shadow'/>"
                                       "<target dev='vdz'/></disk></devices>"), "/etc/shadow"),
    (lambda x: x.replace("</devices>", "<filesystem type='mount'><source dir='/'/><target dir='root'/>"
                                       "</filesystem></devices>"), "<filesystem>"),
    (lambda x: x.replace("</qemu:commandline>", "<qemu:arg value='-fw_cfg'/></qemu:commandline>"),
     "<qemu:commandline> changed"),
    (lambda x: x.replace("restrict=on,", ""), "<qemu:commandline> changed"),
    (lambda x: x.replace("</domain>", "<seclabel type='none'/></domain>"), "confinement"),
])
def test_what_breaks_vmctls_hold_or_hands_over_the_host_is_refused(xml, change, named):
    edited = change(xml)
    assert edited != xml
    with pytest.raises(InvalidInput) as caught:
        check_edit(xml, edited)
    assert named in caught.value.message and caught.value.hint


def test_host_files_on_purpose_with_allow_host(xml):
    edited = xml.replace("</devices>", "<disk type='file' device='disk'><source file='/srv/data.img'/>"
                                       "<target dev='vdz' bus='virtio'/></disk></devices>")
    assert "/srv/data.img" in check_edit(xml, edited, allow_host=True)


def test_invalid_xml_and_schema_errors_are_refused(xml):
    with pytest.raises(InvalidInput):
        check_edit(xml, xml.replace("</domain>", ""))
    with pytest.raises(InvalidInput):
        check_edit(xml, xml.replace("<vcpu>2</vcpu>", "<vcpu>many</vcpu>"))
