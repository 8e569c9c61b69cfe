"""Parsing XML we did not write (user templates, libvirt output) without surprises.

No entity expansion, no DTD loading, no network access, and any DOCTYPE is
refused outright, which stops XXE and "billion laughs" before anything renders.
"""

from __future__ import annotations

from lxml import etree

from vmctl.errors import InvalidInput

_PARSER = etree.XMLParser(
    resolve_entities=False,
    load_dtd=False,
    no_network=True,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=True,
)


def parse_untrusted(data: bytes | str, *, source: str = "XML") -> etree._Element:
    """Parse ``data`` or raise InvalidInput naming ``source``."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        tree = etree.fromstring(raw, _PARSER).getroottree()
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"{source} is not well-formed XML: {exc}", hint="fix the XML syntax") from None
    if tree.docinfo.doctype:
        raise InvalidInput(
            f"{source} has a DOCTYPE declaration, which vmctl refuses",
            hint="remove the <!DOCTYPE ...> line; templates need no DTD or entities",
        )
    return tree.getroot()


def to_string(element: etree._Element) -> str:
    return etree.tostring(element, pretty_print=True, encoding="unicode")


def canonical(xml: str | bytes) -> str:
    """C14N form with insignificant whitespace removed, for comparing documents."""
    root = parse_untrusted(xml)
    for el in root.iter():
        if el.text is not None and not el.text.strip():
            el.text = None
        if el.tail is not None and not el.tail.strip():
            el.tail = None
    return etree.tostring(root, method="c14n2").decode()
