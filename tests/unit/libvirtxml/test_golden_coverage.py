"""Every spec field and every metadata field shows in the rendered XML: changing it
changes at least one golden file (so no field is silently dropped by the renderer)."""

from __future__ import annotations

import dataclasses

import pytest

from vmctl.libvirtxml.domain import render_domain
from vmctl.libvirtxml.metadata import FIELDS
from vmctl.libvirtxml.safe import canonical
from vmctl.ops.templates import builtin_dir
from vmctl.spec.domain import Accel, DirectBoot, DiskSpec, DomainSpec, NicSpec, VmMeta

from tests.unit.libvirtxml.test_domain_xml import CASES  # noqa: E402  (the golden cases themselves)

# Values that are valid and differ from every golden case's value; others are derived by type.
ALTERNATIVES = {
    (DomainSpec, "name"): "renamed1",
    (DomainSpec, "accel"): None,  # swapped between kvm and tcg below
    (DomainSpec, "nested_feature"): "svm",
    (DomainSpec, "uuid"): "11111111-2222-4333-8444-555555555555",
    (DiskSpec, "target"): "vdb",
    (DiskSpec, "format"): "raw",
    (DiskSpec, "device"): "cdrom",
    (DiskSpec, "bus"): "sata",
    (DiskSpec, "replaces"): 0,
    (DiskSpec, "address"): (0, 1, 0, 1),
    (NicSpec, "pci_bus"): "pcie.0",
    (NicSpec, "pci_slot"): 0x12,
    (NicSpec, "kind"): "network",
    (NicSpec, "mac"): "52:54:00:01:02:03",
    (NicSpec, "ssh_port"): 10999,
    (NicSpec, "network"): "othernet",
    (VmMeta, "ssh_port"): 10999,
    (VmMeta, "provisioned"): ("1-0123456789ab",),
    (VmMeta, "volumes"): ("other-vda.qcow2",),
    (VmMeta, "snapshots"): (("before-upgrade", "memory", ""),),
    (VmMeta, "labels"): (("stack", "db"),),
    (VmMeta, "ssh_host_key"): "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIzw54gfZDLxjg9Q6NaBTwv9Dt+pkn1YEXqTcvbQu4PN",
}


def other(cls: type, field: dataclasses.Field, value: object) -> object:
    if (cls, field.name) in ALTERNATIVES and ALTERNATIVES[(cls, field.name)] is not None:
        return ALTERNATIVES[(cls, field.name)]
    if isinstance(value, Accel):
        return Accel.TCG if value is Accel.KVM else Accel.KVM
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    raise AssertionError(f"no alternative value for {cls.__name__}.{field.name} = {value!r}")


def variants(cls: type, field: dataclasses.Field, spec: DomainSpec) -> list[DomainSpec]:
    """``spec`` with ``field`` of ``cls`` changed, wherever ``spec`` has a ``cls``."""
    def change(obj):
        return dataclasses.replace(obj, **{field.name: other(cls, field, getattr(obj, field.name))})
    try:
        if cls is DomainSpec:
            if field.name == "nested_feature":
                return [dataclasses.replace(spec, nested_feature="svm", accel=Accel.KVM)]
            if field.name in ("disks", "nics", "boot", "meta"):
                return []  # covered field by field through their own classes
            return [change(spec)]
        if cls is DiskSpec:
            return [dataclasses.replace(spec, disks=(change(spec.disks[0]), *spec.disks[1:]))]
        if cls is NicSpec:
            nic = spec.nics[0]
            if field.name == "kind":
                nic = NicSpec(kind="network", network="othernet", mac=nic.mac) if nic.kind == "user" else \
                    NicSpec(kind="user", mac=nic.mac, ssh_port=10999)
                return [dataclasses.replace(spec, nics=(nic,))]
            if (field.name == "ssh_port") != (nic.kind == "user") or (field.name == "network") != (nic.kind == "network"):
                if field.name in ("ssh_port", "network"):
                    return []
            return [dataclasses.replace(spec, nics=(change(nic),))]
        if cls is DirectBoot:
            return [dataclasses.replace(spec, boot=change(spec.boot))] if spec.boot else []
        if cls is VmMeta:
            return [dataclasses.replace(spec, meta=change(spec.meta))]
    except Exception:  # an alternative that this case's spec rejects: try the next case
        return []
    raise AssertionError(cls)


SPEC_FIELDS = [(cls, f) for cls in (DomainSpec, DiskSpec, NicSpec, DirectBoot, VmMeta)
               for f in dataclasses.fields(cls) if not (cls is DomainSpec and f.name in ("disks", "nics", "boot", "meta"))]


@pytest.mark.parametrize("cls,field", SPEC_FIELDS, ids=[f"{c.__name__}.{f.name}" for c, f in SPEC_FIELDS])
def test_field_changes_a_golden_file(cls, field):
    changed = []
    for case, (template, spec) in CASES.items():
        base = canonical(render_domain((builtin_dir() / f"{template}.xml").read_bytes(), spec))
        for variant in variants(cls, field, spec):
            try:
                xml = render_domain((builtin_dir() / f"{template}.xml").read_bytes(), variant)
            except Exception:  # noqa: BLE001 - e.g. a boot style the template refuses
                continue
            if canonical(xml) != base:
                changed.append(case)
    assert changed, f"changing {cls.__name__}.{field.name} changes no golden output"


def test_metadata_table_covers_every_vmmeta_field():
    assert sorted(f.attr for f in FIELDS) == sorted(f.name for f in dataclasses.fields(VmMeta))
