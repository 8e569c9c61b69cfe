"""Golden tests for rendered domain XML (canonicalised compare).

Regenerate the expected files after an intended change (also writes missing ones) with:
    VMCTL_REGENERATE=1 .venv/bin/python -m pytest tests/unit/libvirtxml
"""

import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.safe import canonical
from vmctl.spec.domain import Accel, DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta
from vmctl.ops.templates import builtin_dir

POOL = "/var/lib/vmctl/pool"


def spec(name: str, **kw) -> DomainSpec:
    base = dict(
        name=name, vcpus=2, memory_mib=1024,
        disks=(DiskSpec(f"{POOL}/{name}-vda.qcow2"),
               DiskSpec(f"{POOL}/{name}-seed.iso", target="hdc", format="raw", device="cdrom", bus="ide")),
        nics=(NicSpec(kind="user", mac="52:54:00:12:34:56", ssh_port=10022),),
        meta=VmMeta(image="img", template="t", accel_reason="why", ssh_user="debian", ssh_port=10022,
                    volumes=(f"{name}-vda.qcow2", f"{name}-seed.iso")),
        uuid="0c1f3f0a-6a53-4b8e-9d5c-1b1f7f0e9a01",
    )
    base.update(kw)
    return DomainSpec(**base)


DIRECT = DirectBoot(f"{POOL}/tiny.base.vmlinuz", f"{POOL}/tiny.base.initrd", "console=ttyS0 root=/dev/vda rw")
CASES = {
    "tcg-direct": ("linux-direct", spec("tiny1", accel=Accel.TCG, boot=DIRECT)),
    "kvm-disk": ("linux", spec("cloud1", accel=Accel.KVM)),
    "kvm-nested": ("linux", spec("nest1", accel=Accel.KVM, nested_feature="vmx")),
    "tcg-q35-uefi": ("linux-q35-uefi", spec(
        "efi1", accel=Accel.TCG,
        disks=(DiskSpec(f"{POOL}/efi1-vda.qcow2", target="vdb", address=None),
               DiskSpec(f"{POOL}/efi1-seed.iso", target="sda", format="raw", device="cdrom", bus="sata", replaces=0)),
        nics=(NicSpec(kind="user", mac="52:54:00:12:34:57", ssh_port=10023, pci_bus="pcie.0", pci_slot=0x11),))),
    "tcg-q35-placed": ("linux-q35", spec(
        "q1", accel=Accel.TCG, add_serial=True,
        disks=(DiskSpec(f"{POOL}/q1-vda.qcow2"),
               DiskSpec(f"{POOL}/q1-seed.iso", target="sdb", format="raw", device="cdrom", bus="sata",
                        address=(0, 0, 0, 1))),
        nics=(NicSpec(kind="user", mac="52:54:00:12:34:58", ssh_port=10024, pci_bus="pcie.0", pci_slot=0x10),))),
    "tcg-disk-network": ("linux", spec("net1", accel=Accel.TCG,
                                       nics=(NicSpec(kind="network", network="default", mac="52:54:00:aa:bb:cc"),))),
    "tcg-labelled": ("linux-direct", spec("lbl1", accel=Accel.TCG, boot=DIRECT, meta=VmMeta(
        image="img", template="t", accel_reason="why", ssh_port=10022, volumes=("lbl1-vda.qcow2", "lbl1-seed.iso"),
        labels=(("stack", "web"), ("vmctl.test-run", "1f2e-0a1b2c"))))),
}


def render_case(case: str, domain_spec: DomainSpec | None = None) -> str:
    template, default = CASES[case]
    return render_domain((builtin_dir() / f"{template}.xml").read_bytes(), domain_spec or default)


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case, golden):
    golden(f"{case}.xml", render_case(case))


def test_kvm_variants_pass_through_the_host_cpu():
    xml = render_domain((builtin_dir() / "linux.xml").read_bytes(), CASES["kvm-nested"][1])
    assert '<domain xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0" type="kvm">' in xml
    assert 'mode="host-passthrough"' in xml and 'name="vmx"' in xml and 'policy="require"' in xml


def test_tcg_variant_has_no_host_cpu():
    xml = render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), CASES["tcg-direct"][1])
    assert 'type="qemu"' in xml and "host-passthrough" not in xml
    assert "hostfwd=tcp:127.0.0.1:10022-:22" in xml and "restrict=on" in xml


def test_round_trip_reads_back_the_spec():
    _, domain_spec = CASES["kvm-disk"]
    facts = parse_domain(render_domain((builtin_dir() / "linux.xml").read_bytes(), domain_spec))
    assert (facts.name, facts.vcpus, facts.memory_mib, facts.accel) == ("cloud1", 2, 1024, "kvm")
    assert facts.meta == domain_spec.meta and facts.managed
    assert [d.path for d in facts.disks] == [d.path for d in domain_spec.disks]


def test_unknown_template_xml_survives_rendering():
    template = (builtin_dir() / "linux.xml").read_text().replace(
        "<memballoon", '<watchdog model="i6300esb" action="reset"/>\n    <memballoon').replace(
        "<clock", "<description>kept as is</description>\n  <clock")
    xml = render_domain(template, CASES["kvm-disk"][1])
    assert '<watchdog model="i6300esb" action="reset"/>' in xml
    assert "<description>kept as is</description>" in xml


def test_metacharacters_never_reach_xml_unescaped():
    template = (builtin_dir() / "linux.xml").read_text()
    boot_spec = spec("x1", accel=Accel.TCG, boot=None,
                     meta=VmMeta(image="img", template="t", accel_reason="a <b> & 'c'\"", ssh_port=10022))
    xml = render_domain(template, boot_spec)
    assert parse_domain(xml).meta.accel_reason == "a <b> & 'c'\""


def test_direct_boot_mismatch_is_reported():
    with pytest.raises(InvalidInput, match="direct kernel boot"):
        render_domain((builtin_dir() / "linux.xml").read_bytes(), CASES["tcg-direct"][1])
    with pytest.raises(InvalidInput, match="kernel given by the host"):
        render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), CASES["kvm-disk"][1])


def test_schema_violation_is_invalid_input():
    template = (builtin_dir() / "linux.xml").read_text().replace("<on_crash>destroy", "<on_crash>explode")
    with pytest.raises(InvalidInput, match="schema"):
        render_domain(template, CASES["kvm-disk"][1])


def test_non_domain_root_rejected():
    with pytest.raises(InvalidInput, match="not a libvirt domain"):
        render_domain("<network><name>x</name></network>", CASES["kvm-disk"][1])


def test_with_ssh_port_moves_the_forward_and_the_metadata():
    from vmctl.libvirtxml.edits import with_ssh_port

    xml = render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), CASES["tcg-direct"][1])
    moved = with_ssh_port(xml, 12345)
    assert "hostfwd=tcp:127.0.0.1:12345-:22" in moved and "10022" not in moved
    assert parse_domain(moved).meta.ssh_port == 12345
    assert canonical(moved.replace("12345", "10022")) == canonical(xml)


def test_internet_drops_restrict_and_is_read_back():
    from dataclasses import replace

    from vmctl.libvirtxml.facts import parse_domain
    from vmctl.libvirtxml.restore import restorable_xml

    spec_ = CASES["tcg-direct"][1]
    closed = render_domain((builtin_dir() / "linux-direct.xml").read_bytes(), spec_)
    opened = render_domain((builtin_dir() / "linux-direct.xml").read_bytes(),
                           replace(spec_, nics=tuple(replace(n, internet=True) for n in spec_.nics)))
    assert "restrict=on" in closed and not parse_domain(closed).internet
    assert "restrict=on" not in opened and "hostfwd=tcp:127.0.0.1:10022-:22" in opened
    assert parse_domain(opened).internet
    disks = {d.target: d.path for d in parse_domain(opened).disks}
    _out, refused, _facts = restorable_xml(opened, disks=disks, boot_files=frozenset(
        {parse_domain(opened).kernel, parse_domain(opened).initrd}), source="backup")
    assert not [u for u in refused if "commandline" in u.element]  # vmctl's own NIC, open or not


def test_internet_is_for_the_user_mode_nic_only():
    from vmctl.errors import InvalidInput
    from vmctl.spec.domain import NicSpec

    with pytest.raises(InvalidInput, match="--internet"):
        NicSpec(kind="network", network="default", internet=True)
