"""Port forward specs: what people write, QEMU's hostfwd option, both ways."""

from __future__ import annotations

import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.ports import PortForward, forward_of_option, parse_forward, parse_host_socket


@pytest.mark.parametrize("text, forward", [
    ("8080:80", PortForward(8080, 80)),
    ("127.0.0.2:5432:5432", PortForward(5432, 5432, "tcp", "127.0.0.2")),
    ("5353:53/udp", PortForward(5353, 53, "udp")),
    ("0.0.0.0:8443:443/tcp", PortForward(8443, 443, "tcp", "0.0.0.0")),
])
def test_specs_parse_and_round_trip_through_qemus_option(text, forward):
    assert parse_forward(text) == forward
    assert forward_of_option(forward.option) == forward
    assert forward.loopback == forward.host_addr.startswith("127.")


@pytest.mark.parametrize("text", ["80", "a:1:2", "1:2:3:4", "0:80", "8080:70000", "8080:80/sctp", "300.1.1.1:1:2",
                                  "8080:80,guestfwd=tcp:10.0.2.1:1-cmd:/bin/sh", " "])
def test_bad_specs_are_refused_with_the_form(text):
    with pytest.raises(InvalidInput):
        parse_forward(text)


def test_other_options_are_not_forwards():
    assert forward_of_option("restrict=on") is None
    assert forward_of_option("hostfwd=tcp::8080-:80") is None  # vmctl always names the address
    assert parse_host_socket("8080") == ("127.0.0.1", 8080, "tcp")
    assert parse_host_socket("127.0.0.3:53/udp") == ("127.0.0.3", 53, "udp")
    assert parse_host_socket("8080:80") == ("127.0.0.1", 8080, "tcp")
