"""Validation against libvirt's own RelaxNG schemas."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

from vmctl.errors import InvalidInput

SCHEMA_DIRS = (Path("/usr/share/libvirt/schemas"), Path("/usr/local/share/libvirt/schemas"))


@lru_cache(maxsize=None)
def _schema(name: str) -> etree.RelaxNG | None:
    for directory in SCHEMA_DIRS:
        path = directory / f"{name}.rng"
        if path.exists():
            return etree.RelaxNG(etree.parse(str(path)))
    return None


def validate(element: etree._Element, schema: str = "domain") -> None:
    """Raise InvalidInput if ``element`` does not match libvirt's ``schema``.

    Where libvirt's schemas are not installed (a client-only machine), this is
    skipped: libvirtd validates again at define time with the VALIDATE flag.
    """
    rng = _schema(schema)
    if rng is None or rng.validate(element):
        return
    errors = "; ".join(f"line {e.line}: {e.message}" for e in list(rng.error_log)[:3])
    culprits = _culprits(element, rng)
    if culprits:
        raise InvalidInput(f"libvirt's {schema} schema on this host does not accept " + ", ".join(culprits),
                           hint="remove or change that element in the template (this libvirt may be older "
                                "than the one that wrote it)")
    raise InvalidInput(
        f"rendered {schema} XML does not match libvirt's schema: {errors}",
        hint="check the template: it must be a valid libvirt domain skeleton",
    )


def _culprits(element: etree._Element, rng: etree.RelaxNG) -> list[str]:
    """The devices (or top-level elements) without which the document validates."""
    found = []
    for parent in (element.find("devices"), element):
        if parent is None:
            continue
        for child in list(parent):
            if not isinstance(child.tag, str) or (parent is element and child.tag == "devices"):
                continue
            index = parent.index(child)
            parent.remove(child)
            try:
                if rng.validate(element):
                    attrs = " ".join(f"{k}='{v}'" for k, v in child.attrib.items() if "{" not in k)
                    found.append(f"<{etree.QName(child).localname}{' ' + attrs if attrs else ''}>")
            finally:
                parent.insert(index, child)
        if found:
            return found
    return found
