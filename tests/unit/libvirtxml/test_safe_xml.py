import pytest

from vmctl.errors import InvalidInput
from vmctl.libvirtxml.safe import parse_untrusted

XXE = """<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<domain><name>&xxe;</name></domain>"""

LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<domain><name>&lol3;</name></domain>"""

EXTERNAL_DTD = """<?xml version="1.0"?>
<!DOCTYPE domain SYSTEM "http://127.0.0.1:9/evil.dtd"><domain/>"""


@pytest.mark.parametrize("doc", [XXE, LAUGHS, EXTERNAL_DTD], ids=["xxe", "billion-laughs", "external-dtd"])
def test_doctype_refused(doc):
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        parse_untrusted(doc, source="template 'evil'")


def test_malformed_xml():
    with pytest.raises(InvalidInput, match="not well-formed"):
        parse_untrusted("<domain><name>x</domain>", source="template 'bad'")


def test_plain_xml_parses():
    assert parse_untrusted("<domain><name>x</name></domain>").findtext("name") == "x"
