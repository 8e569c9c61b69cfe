"""The real-world corpus (tests/data/templates/) rendered as create would define it,
pinned as golden files (tests/data/golden/templates/): cleaning, placement of vmctl's
disk, seed, NIC and serial, and what is kept. Pure: no libvirt (the real test boots
or starts these on libvirtd + QEMU)."""

from pathlib import Path

import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.domain import render_domain
from vmctl.ops.resolve import resolve_spec
from vmctl.ops.templates import load_template, prepare_template
from vmctl.policy.accel import AccelDecision
from vmctl.spec.domain import Accel
from vmctl.spec.image import placeholder_image
from vmctl.spec.request import CreateRequest
from vmctl.spec.template import HostView

CORPUS = Path(__file__).resolve().parents[2] / "data" / "templates"
POOL = "/var/lib/vmctl/pool"
UUID = "0c1f3f0a-6a53-4b8e-9d5c-1b1f7f0e9a01"
NEEDS_DROP = {"extra-disks-q35.xml", "hostdev-passthrough-q35.xml", "rbd-iscsi-q35.xml",
              "serial-file-hostdev-pc.xml", "virt-manager-pinned-remote-display-q35.xml"}
# A small host, as the template pre-flight sees it: 2 CPUs, one NUMA node, loopback only,
# SPICE TLS off, no servers listening.
HOST = HostView(local=True, cpus=frozenset({0, 1}), nodes=frozenset({0}), spice_tls=lambda: (False, ""),
                has_address=lambda address: False, listening=lambda kind, target: False)
NOT_RENDERED = {"aarch64-virt.xml"}  # refused by placement (and before that by the host check)


def render(name: str) -> str:
    template = load_template(str(CORPUS / name))
    prepared = prepare_template(template, drop=name in NEEDS_DROP, host=HOST)
    request = CreateRequest(f"g-{Path(name).stem}"[:60], image="tinydisk", template=str(CORPUS / name))
    spec = resolve_spec(request, placeholder_image("tinydisk", POOL, direct=False), template, prepared.facts,
                        AccelDecision(Accel.TCG, False, False, "tests"), None, POOL, mac="52:54:00:12:34:56", vm_uuid=UUID,
                        ssh_port=10022, seed_path=f"{POOL}/{request.name}-seed.iso")
    return render_domain(prepared.xml, spec, source=f"template {template.name!r}")


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.xml") if p.name not in NOT_RENDERED))
def test_corpus_renders_as_pinned(name, golden):
    golden(f"templates/{name}", render(name))


def test_placement_fits_the_machine():
    pc = render("dumpxml-pc-vnc-chardevs.xml")
    assert 'bus=pci.0,addr=0x10' in pc and '<target dev="hdc" bus="ide"/>' in pc  # the emptied cdrom holds the seed
    q35 = render("virt-manager-q35-bios-sata.xml")
    assert 'bus=pcie.0,addr=0x10' in q35 and 'bus="ide"' not in q35
    assert '<source file="/var/lib/vmctl/pool/g-virt-manager-q35-bios-sata-vda.qcow2"/>' in q35
    scsi = render("virt-install-q35-virtio-scsi.xml")
    assert '<target dev="sda" bus="scsi"/>' in scsi and '<target dev="sdb" bus="scsi"/>' in scsi


def test_aarch64_is_refused_by_placement():
    with pytest.raises(InvalidInput, match="x86 'pc'"):
        render("aarch64-virt.xml")


def test_host_tied_parts_are_refused_on_a_host_without_them():
    template = load_template(str(CORPUS / "virt-manager-pinned-remote-display-q35.xml"))
    with pytest.raises(InvalidInput, match="pins to CPUs this host does not have") as caught:
        prepare_template(template, host=HOST)
    assert caught.value.message.count(": connects at start to a server") == 2
    fitted = render("virt-manager-pinned-remote-display-q35.xml")
    assert "cputune" not in fitted and "numatune" not in fitted and "cpuset" not in fitted
    assert fitted.count('<listen type="address" address="127.0.0.1"/>') == 2 and "10.1.2.3" not in fitted
    assert 'mode="secure"' not in fitted and 'type="tcp"' not in fitted and "vmctl-corpus-absent" not in fitted
