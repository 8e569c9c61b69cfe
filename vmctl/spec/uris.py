"""libvirt connection URIs: their transport, and how they may be shown."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from vmctl.errors import InvalidInput

# libvirt transports that carry the control connection in clear text.
PLAINTEXT_TRANSPORTS = {"tcp"}


def redact_uri(uri: str) -> str:
    """The URI without a password (``user:secret@host`` -> ``user:***@host``), for messages,
    records and output. Query parameters libvirt takes are paths and flags, never secrets."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "<unparsable URI>"
    if parts.password is None:
        return uri
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def transport_of(uri: str) -> str:
    """libvirt's transport: ``qemu+ssh://`` -> "ssh", ``qemu://host/`` -> "tls",
    ``qemu:///system`` -> "unix"."""
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2]
    if transport:
        return transport
    return "tls" if parts.hostname else "unix"


def check_transport(uri: str, *, insecure: bool) -> None:
    if "://" not in uri:
        raise InvalidInput(f"invalid libvirt URI {redact_uri(uri)!r}", hint="e.g. qemu+ssh://root@host/system")
    if transport_of(uri) in PLAINTEXT_TRANSPORTS and not insecure:
        raise InvalidInput(f"{redact_uri(uri)} is a plain-text, unauthenticated transport (qemu+tcp)",
                           hint="use qemu+ssh:// or qemu+tls://; --insecure-transport allows it anyway")


def display_uri(uri: str) -> str:
    """Short form for messages: no password, no query (``qemu+ssh://root@hv1/system``)."""
    redacted = redact_uri(uri)  # (as typed: urlunsplit would turn qemu:///system into qemu:/system)
    return redacted.partition("#")[0].partition("?")[0]


def is_session_uri(uri: str) -> bool:
    """A per-user libvirt daemon (``qemu:///session``, ``qemu+ssh://h/session``): it runs
    as the user, so it can only use files the user owns."""
    try:
        return urlsplit(uri).path.rstrip("/") == "/session"
    except ValueError:
        return False
