"""vmctl's own facts in a domain's ``<metadata>``, declared once.

Each :class:`MetaField` names a :class:`~vmctl.spec.domain.VmMeta` attribute and
where it lives under ``<vmctl:vm>`` (an element's text, an attribute, or a list of
child elements). The one table serves writing (render and ``setMetadata``),
reading (``parse_domain``) and in-place edits (``edit_metadata``), so a new fact
is one new line here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from lxml import etree

from vmctl.spec.meta import VmMeta

if TYPE_CHECKING:
    from vmctl.spec.domain import Accel

VMCTL_NS = "https://vmctl.dev/xmlns/vm/1"
VMCTL_PREFIX = "vmctl"
_V = f"{{{VMCTL_NS}}}"


@dataclass(frozen=True)
class MetaField:
    attr: str                 # VmMeta attribute
    path: str                 # element path under <vm>, e.g. "ssh/hostkey"
    xml_attr: str | None = None  # attribute of that element; None: the element's text
    kind: type = str          # str, int or tuple (a list of child elements)
    # tuple fields: (child tag, attribute holding each value), or (child tag, (attr, attr, ...))
    # when each value is itself a tuple of strings
    item: tuple[str, str | tuple[str, ...]] | None = None
    always: bool = False      # written even when empty
    survives_revert: bool = False  # kept as it is when a snapshot revert restores the old definition


FIELDS: tuple[MetaField, ...] = (
    MetaField("image", "image", always=True),
    MetaField("template", "template", always=True),
    MetaField("accel_reason", "accel", "reason", always=True),
    MetaField("ssh_user", "ssh", "user", always=True),
    MetaField("ssh_port", "ssh", "port", kind=int),
    MetaField("ssh_key_path", "ssh", "key"),
    MetaField("ssh_host_key", "ssh/hostkey"),
    MetaField("provisioned", "provisioned", kind=tuple, item=("step", "key")),
    MetaField("volumes", "volumes", kind=tuple, item=("volume", "name"), survives_revert=True),
    MetaField("snapshots", "snapshots", kind=tuple, item=("snapshot", ("name", "consistency", "group")),
              survives_revert=True),
    MetaField("labels", "labels", kind=tuple, item=("label", ("key", "value")), survives_revert=True),
)
SURVIVING_REVERT: tuple[str, ...] = tuple(f.attr for f in FIELDS if f.survives_revert)
assert {f.attr for f in FIELDS} == {f.name for f in fields(VmMeta)}, "every VmMeta field needs a MetaField"


def metadata_element(meta: VmMeta, accel: "Accel", *, qualified: bool = True) -> etree._Element:
    """``<vmctl:vm>`` for ``meta``. With ``qualified=False`` children are unqualified, as
    libvirt's setMetadata wants them (it puts the namespace on the element itself)."""
    ns = _V if qualified else ""
    vm = etree.Element(f"{ns}vm", nsmap={VMCTL_PREFIX: VMCTL_NS} if qualified else None)
    for field in FIELDS:
        _write(vm, field, getattr(meta, field.attr), ns)
        if field.path == "accel" and field.xml_attr == "reason":
            _element(vm, "accel", ns).text = accel.value  # the accelerator itself comes from the domain type
    return vm


def metadata_xml(meta: VmMeta, accel: "Accel") -> str:
    """The metadata element alone, for libvirt's setMetadata."""
    return etree.tostring(metadata_element(meta, accel, qualified=False), encoding="unicode")


def read_metadata(vm: etree._Element | None) -> VmMeta:
    """VmMeta from a ``<vmctl:vm>`` element (defaults where it is absent)."""
    if vm is None:
        return VmMeta()
    values: dict[str, object] = {}
    for field in FIELDS:
        el = vm.find(_any_ns(field.path))
        if el is None:
            continue
        if field.kind is tuple:
            tag, attr = field.item  # type: ignore[misc]
            children = el.findall(f"{{*}}{tag}")
            if isinstance(attr, tuple):
                values[field.attr] = tuple(tuple(c.get(a, "") for a in attr) for c in children)
            else:
                values[field.attr] = tuple(c.get(attr, "") for c in children)
            continue
        raw = el.get(field.xml_attr) if field.xml_attr else el.text
        if raw is None:
            continue
        values[field.attr] = int(raw) if field.kind is int else raw
    return VmMeta(**values)  # type: ignore[arg-type]


def edit_metadata(vm: etree._Element, meta: VmMeta, **changes: object) -> VmMeta:
    """Apply ``changes`` to the ``<vmctl:vm>`` element in place, keeping whatever else
    it holds; returns the new VmMeta."""
    new = replace(meta, **changes)  # type: ignore[arg-type]
    ns = vm.tag[: vm.tag.index("}") + 1] if vm.tag.startswith("{") else ""
    for field in FIELDS:
        if field.attr in changes:
            _clear(vm, field)
            _write(vm, field, getattr(new, field.attr), ns)
    return new


def _write(vm: etree._Element, field: MetaField, value: object, ns: str) -> None:
    if not field.always and value in (None, "", ()):
        return
    el = _element(vm, field.path, ns)
    if field.kind is tuple:
        tag, attr = field.item  # type: ignore[misc]
        for item in value:  # type: ignore[union-attr]
            if isinstance(attr, tuple):
                etree.SubElement(el, f"{ns}{tag}", {a: str(v) for a, v in zip(attr, item)})
            else:
                etree.SubElement(el, f"{ns}{tag}", {attr: str(item)})
    elif field.xml_attr:
        el.set(field.xml_attr, "" if value is None else str(value))
    else:
        el.text = "" if value is None else str(value)


def _clear(vm: etree._Element, field: MetaField) -> None:
    el = vm.find(_any_ns(field.path))
    if el is None:
        return
    if field.xml_attr:
        el.attrib.pop(field.xml_attr, None)
    elif field.kind is tuple or "/" in field.path:
        el.getparent().remove(el)
    else:
        el.text = None


def _element(vm: etree._Element, path: str, ns: str) -> etree._Element:
    """The element at ``path`` under ``vm``, created (with its parents) if missing."""
    el = vm
    for tag in path.split("/"):
        child = el.find(f"{{*}}{tag}") if ns else el.find(tag)
        el = child if child is not None else etree.SubElement(el, f"{ns}{tag}")
    return el


def _any_ns(path: str) -> str:
    return "/".join(f"{{*}}{tag}" for tag in path.split("/"))


def surviving_revert(before: VmMeta, after: VmMeta) -> VmMeta:
    """``after`` (the metadata a revert restored) with the fields that must not travel
    back in time (volume ownership, the list of snapshots, labels) taken from ``before``."""
    return replace(after, **{attr: getattr(before, attr) for attr in SURVIVING_REVERT})
