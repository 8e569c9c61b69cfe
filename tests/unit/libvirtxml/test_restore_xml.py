"""A backed-up definition is cleaned like an imported template and refused, naming each
part, when it would hand the restored VM a piece of this host; vmctl's own metadata and
user-mode NIC survive, and the restored copy gets the backup's disks."""

from __future__ import annotations

import pytest

from vmctl.libvirtxml.edits import as_restored
from vmctl.libvirtxml.facts import parse_domain
from vmctl.libvirtxml.restore import restorable_xml

DIRECT = {"vda": "disk", "hdc": "cdrom"}
BOOT = frozenset({"kernel", "initrd"})
UUID = "0c1f3f0a-6a53-4b8e-9d5c-1b1f7f0e9a02"


@pytest.fixture
def direct(data_dir) -> str:
    """tiny's definition as vmctl renders it (direct kernel boot, seed CD-ROM, user-mode NIC)."""
    return (data_dir / "golden" / "tcg-direct.xml").read_text()


def refusals(xml: str, disks=DIRECT, boot=BOOT) -> list[str]:
    _out, refused, _facts = restorable_xml(xml, disks=disks, boot_files=boot, source="backup")
    return [f"{u.element}: {u.reason}" for u in refused]


def test_a_definition_vmctl_wrote_is_restorable_and_keeps_vmctls_own_parts(direct):
    out, refused, facts = restorable_xml(direct, disks=DIRECT, boot_files=BOOT, source="backup")
    assert refused == () and facts.direct_boot
    restored = as_restored(out.decode(), name="copy", uuid=UUID, ssh_port=12345, macs=["52:54:00:00:00:01"] * 8,
                           disk_sources={"vda": "/pool/copy-vda.qcow2", "hdc": "/pool/copy-cidata.iso"},
                           volumes=("copy-vda.qcow2", "copy-cidata.iso"),
                           boot_files={"kernel": "/pool/copy.vmlinuz", "initrd": "/pool/copy.initrd"})
    facts = parse_domain(restored)
    assert facts.uuid == UUID and facts.meta.ssh_port == 12345 and facts.meta.ssh_user == "debian"
    assert facts.meta.volumes == ("copy-vda.qcow2", "copy-cidata.iso")
    assert {d.target: d.path for d in facts.disks} == {"vda": "/pool/copy-vda.qcow2", "hdc": "/pool/copy-cidata.iso"}
    assert (facts.kernel, facts.initrd) == ("/pool/copy.vmlinuz", "/pool/copy.initrd")
    assert "hostfwd=tcp:127.0.0.1:12345-:22" in restored and "mac=52:54:00:00:00:01" in restored


def test_a_uefi_vm_loses_its_nvram_file_and_emulator_but_keeps_its_firmware(data_dir):
    xml = (data_dir / "golden" / "tcg-q35-uefi.xml").read_text().replace(
        "<devices>", "<devices><emulator>/tmp/evil-qemu</emulator>").replace(
        "</os>", "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                 "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>"
                 "/var/lib/libvirt/qemu/nvram/old_VARS.fd</nvram></os>")
    out, refused, _facts = restorable_xml(xml, disks={"vdb": "disk", "sda": "cdrom"}, boot_files=frozenset(),
                                          source="backup")
    assert refused == ()
    assert b"old_VARS.fd" not in out and b"evil-qemu" not in out and b"OVMF_CODE_4M.fd" in out


@pytest.mark.parametrize("extra,named", [
    ("<disk type='file' device='disk'><source file='/etc/shadow'/><target dev='vdb' bus='virtio'/></disk>",
     "<disk device='disk'> vdb: not one of the backed-up disks"),
    ("<disk type='block' device='lun'><source dev='/dev/sda'/><target dev='sdz' bus='scsi'/><boot order='1'/></disk>",
     "<disk device='lun'> sdz: not one of the backed-up disks"),
    ("<disk type='file' device='cdrom'><source file='/root/secret.iso'/><target dev='hdd' bus='ide'/></disk>",
     "<disk device='cdrom'> hdd: not one of the backed-up disks"),
    ("<filesystem type='mount'><source dir='/'/><target dir='host'/></filesystem>",
     "<filesystem>: shares a host directory"),
    ("<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0' slot='1' function='0'/></source>"
     "</hostdev>", "<hostdev type='pci'>: passes a host device through"),
    ("<serial type='file'><source path='/etc/cron.d/x'/><target port='1'/></serial>",
     "<source path='/etc/cron.d/x'>: names a file of this host"),
    ("<channel type='unix'><source mode='connect' path='/run/docker.sock'/><target type='virtio' name='x'/></channel>",
     "<source path='/run/docker.sock'>: names a file of this host"),
    ("<interface type='ethernet'><script path='/tmp/x.sh'/></interface>", "<script path='/tmp/x.sh'>"),
    ("<input type='passthrough' bus='virtio'><source evdev='/dev/input/event0'/></input>", "evdev='/dev/input/event0'"),
    ("<memory model='nvdimm'><source><path>/etc/shadow</path></source><target><size unit='KiB'>1</size></target>"
     "</memory>", "<path>/etc/shadow</path>: names a file of this host"),
    ("<rng model='virtio'><backend model='random'>/etc/shadow</backend></rng>", "<backend>/etc/shadow</backend>"),
    ("<graphics type='spice'><gl enable='yes' rendernode='/dev/dri/renderD128'/></graphics>",
     "rendernode='/dev/dri/renderD128'"),
])
def test_a_device_that_hands_over_part_of_this_host_is_refused(direct, extra, named):
    assert any(named in r for r in refusals(direct.replace("</devices>", extra + "</devices>"))), \
        refusals(direct.replace("</devices>", extra + "</devices>"))


@pytest.mark.parametrize("args,named", [
    (["-fw_cfg", "name=opt/x,file=/etc/shadow"], "name=opt/x,file=/etc/shadow"),
    (["-netdev", "user,id=vmctlnet1,restrict=on,guestfwd=tcp:10.0.2.1:1-cmd:/tmp/x,hostfwd=tcp:127.0.0.1:1-:22"],
     "guestfwd"),
    (["-device", "virtio-net-pci,netdev=vmctlnet0,mac=52:54:00:12:34:56,bus=pci.0,addr=0x10,romfile=/etc/shadow"],
     "romfile"),
    (["-netdev"], "<qemu:commandline>"),
])
def test_qemu_arguments_that_are_not_vmctls_own_nic_are_refused(direct, args, named):
    forged = direct.replace("</qemu:commandline>",
                            "".join(f"<qemu:arg value='{a}'/>" for a in args) + "</qemu:commandline>")
    found = refusals(forged)
    assert any(r.startswith("<qemu:commandline>: arguments that are not vmctl's own") for r in found)
    assert any(named in r for r in found)


def test_other_qemu_elements_are_refused(direct):
    forged = direct.replace("</qemu:commandline>", "<qemu:env name='LD_PRELOAD' value='/tmp/x.so'/></qemu:commandline>"
                            "<qemu:capabilities><qemu:del capability='sandbox'/></qemu:capabilities>")
    found = refusals(forged)
    assert any(r.startswith("<qemu:env>") for r in found) and any(r.startswith("<qemu:capabilities>") for r in found)
    assert not any(r.startswith("<qemu:del>") for r in found)  # named once, by its parent


def test_boot_files_the_backup_does_not_hold_are_refused(direct):
    assert any("<kernel>/var/lib/vmctl/pool/tiny.base.vmlinuz</kernel>" in r
               for r in refusals(direct, boot=frozenset({"initrd"})))
    forged = direct.replace("</os>", "<dtb>/etc/shadow</dtb><acpi><table type='slic'>/etc/x</table></acpi></os>")
    found = refusals(forged)
    assert any("<dtb>/etc/shadow</dtb>" in r for r in found) and any("<table>/etc/x</table>" in r for r in found)


@pytest.mark.parametrize("path", ["/root/.ssh/id_ed25519", "/usr/share/../../etc/shadow"])
def test_firmware_outside_the_system_firmware_directories_is_refused(direct, path):
    forged = direct.replace("</os>", f"<loader readonly='yes' type='rom'>{path}</loader></os>")
    assert any(f"<loader>{path}</loader>" in r for r in refusals(forged))


def test_a_static_or_disabled_security_label_is_refused(direct):
    for label in ("<seclabel type='none'/>", "<seclabel type='static' model='apparmor'><label>unconfined</label>"
                  "</seclabel>"):
        assert any(r.startswith("<seclabel") for r in refusals(direct.replace("</devices>", "</devices>" + label)))


def test_disks_must_match_the_backup(direct):
    assert any("disk-vdb of the backup: the definition has no disk" in r
               for r in refusals(direct, disks={**DIRECT, "vdb": "disk"}))
    assert any("the backup holds a cdrom for this target" in r for r in refusals(direct, disks={"vda": "cdrom",
                                                                                                  "hdc": "cdrom"}))
    twice = direct.replace("</devices>", "<disk type='file' device='disk'><source file='/etc/shadow'/>"
                           "<target dev='vda' bus='virtio'/></disk></devices>")
    found = refusals(twice)
    assert any("a second disk with the same target" in r for r in found)
    assert any("<source file='/etc/shadow'>: names a file of this host" in r for r in found)


def test_the_restored_disk_keeps_no_old_storage_or_secrets(direct):
    forged = direct.replace('<disk type="file" device="disk">',
                            '<disk type="network" device="disk"><auth username="x"><secret type="ceph" usage="u"/>'
                            '</auth>').replace('<source file="/var/lib/vmctl/pool/tiny1-vda.qcow2"/>',
                                               '<source protocol="rbd" name="pool/img"><host name="10.0.0.1"/>'
                                               '</source>')
    out, refused, _ = restorable_xml(forged, disks=DIRECT, boot_files=BOOT, source="backup")
    assert refused == ()
    restored = as_restored(out.decode(), name="copy", uuid=UUID, ssh_port=None, macs=["52:54:00:00:00:01"] * 8,
                           disk_sources={"vda": "/pool/copy-vda.qcow2", "hdc": "/pool/copy-cidata.iso"},
                           volumes=(), boot_files={})
    assert "rbd" not in restored and "secret" not in restored and "10.0.0.1" not in restored
    assert {d.target: d.path for d in parse_domain(restored).disks}["vda"] == "/pool/copy-vda.qcow2"


@pytest.mark.parametrize("xml", ["<domainsnapshot/>", "<domain><os/><devices/></domain>",
                                 "<domain><name>x</name><devices/></domain>"])
def test_something_that_is_no_domain_definition_is_refused(xml):
    assert refusals(xml) == ["<%s>: not a libvirt domain definition with <name>, <os> and <devices>"
                             % xml[1:].split(">")[0].split("/")[0]]
