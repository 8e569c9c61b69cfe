"""The inventory of libvirt hosts (``vmctl host add/rm/ls``, ``-H NAME``): its entries and
its file format, checked. Pure: reading and writing the file is :mod:`vmctl.local.inventory`.

The file (YAML; JSON is YAML too) is versioned::

    version: 1
    hosts:
      - name: hv1
        uri: qemu+ssh://root@hv1.example/system
        labels: {rack: a, ssd: "yes"}     # optional
        drained: true                     # optional: placement skips it (`vmctl host drain`)

Unknown keys, duplicate names and URIs holding a password are refused, with the
file's path in the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from vmctl.errors import Conflict, InvalidInput, NotFound
from vmctl.spec.names import check_labels, check_name
from vmctl.spec.uris import redact_uri

FORMAT_VERSION = 1
ENTRY_KEYS = {"name", "uri", "labels", "drained"}
_SCHEME_RE = re.compile(r"^[a-z][a-z0-9.+-]*$")
_URI_HINT = "a libvirt URI, e.g. qemu+ssh://root@hv1.example/system or qemu:///system"


@dataclass(frozen=True)
class HostEntry:
    """One libvirt host by name: its URI and labels (for placement and filters later)."""

    name: str
    uri: str
    labels: tuple[tuple[str, str], ...] = ()
    drained: bool = False  # `vmctl host drain`: placement chooses it for nothing

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "uri": self.uri, "labels": dict(self.labels), "drained": self.drained}


def check_host_uri(uri: str) -> str:
    """``uri`` if it has a libvirt URI's form and no password, else InvalidInput.
    Only the form: nothing is connected to."""
    if not isinstance(uri, str) or not uri or any(c.isspace() or ord(c) < 32 for c in uri):
        raise InvalidInput(f"invalid libvirt URI {uri!r}", hint=_URI_HINT)
    try:
        parts = urlsplit(uri)
        password, _port = parts.password, parts.port  # (port: ValueError if not a number)
    except ValueError:
        raise InvalidInput(f"invalid libvirt URI {redact_uri(uri)!r}", hint=_URI_HINT) from None
    if "://" not in uri or not _SCHEME_RE.match(parts.scheme):
        raise InvalidInput(f"invalid libvirt URI {redact_uri(uri)!r}", hint=_URI_HINT)
    if password is not None:
        raise InvalidInput(f"the URI {redact_uri(uri)} holds a password: the inventory keeps no secrets",
                           hint="drop the password and log in with an SSH key (qemu+ssh://user@host/system, "
                                "ssh-copy-id user@host) or libvirt's auth.conf")
    return uri


def make_entry(name: str, uri: str, labels: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> HostEntry:
    """A checked entry (InvalidInput naming what is wrong)."""
    pairs = labels if isinstance(labels, Mapping) else tuple(labels or ())
    return HostEntry(check_name(name, "host"), check_host_uri(uri), check_labels(pairs))


def parse_inventory(data: object, source: str) -> tuple[HostEntry, ...]:
    """The entries of a loaded inventory document (``None``: an empty file); InvalidInput
    naming ``source`` (the file) and the entry for anything malformed."""
    if data is None:
        return ()
    hint = f"see `vmctl host --help` and docs/cli.md (Hosts inventory); fix or remove {source}"
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{source}: not an inventory (a mapping with 'version' and 'hosts')", hint=hint)
    unknown = sorted(set(map(str, data)) - {"version", "hosts"})
    if unknown:
        raise InvalidInput(f"{source}: unknown key {unknown[0]!r}", hint=hint)
    version = data.get("version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION
        raise InvalidInput(f"{source}: inventory version {version!r} is not {FORMAT_VERSION}",
                           hint="written by a newer vmctl: upgrade vmctl" if newer else hint)
    hosts = data.get("hosts") or []
    if not isinstance(hosts, list):
        raise InvalidInput(f"{source}: 'hosts' is not a list", hint=hint)
    entries: list[HostEntry] = []
    for index, item in enumerate(hosts):
        entry = _parse_entry(item, f"{source}: hosts[{index}]", hint)
        if any(e.name == entry.name for e in entries):
            raise InvalidInput(f"{source}: host {entry.name!r} is listed twice", hint=hint)
        entries.append(entry)
    return tuple(entries)


def _parse_entry(item: object, where: str, hint: str) -> HostEntry:
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where}: not a mapping with 'name' and 'uri'", hint=hint)
    name = item.get("name")
    where = f"{where} ({name})" if isinstance(name, str) else where
    unknown = sorted(set(map(str, item)) - ENTRY_KEYS)
    if unknown:
        raise InvalidInput(f"{where}: unknown key {unknown[0]!r}", hint=f"keys: name, uri, labels, drained; {hint}")
    for key in ("name", "uri"):
        if not isinstance(item.get(key), str):
            raise InvalidInput(f"{where}: '{key}' is missing or not a string", hint=hint)
    labels = item.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidInput(f"{where}: 'labels' is not a mapping of key: value", hint=hint)
    for key, value in labels.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInput(f"{where}: label {key!r} is not a string", hint=f'quote the value ({key}: "..."): YAML reads yes, no, on, off as booleans')
    drained = item.get("drained", False)
    if not isinstance(drained, bool):
        raise InvalidInput(f"{where}: 'drained' is not true or false", hint=hint)
    try:
        entry = make_entry(item["name"], item["uri"], {str(k): str(v) for k, v in labels.items()})
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}", hint=exc.hint) from None
    return replace(entry, drained=drained)


def inventory_document(entries: Iterable[HostEntry]) -> dict[str, object]:
    """What the file holds for ``entries`` (the inverse of :func:`parse_inventory`)."""
    hosts: list[dict[str, object]] = []
    for entry in entries:
        item: dict[str, object] = {"name": entry.name, "uri": entry.uri}
        if entry.labels:
            item["labels"] = dict(entry.labels)
        if entry.drained:  # (written only when set: files stay as older vmctl wrote them)
            item["drained"] = True
        hosts.append(item)
    return {"version": FORMAT_VERSION, "hosts": hosts}


def with_entry(entries: tuple[HostEntry, ...], entry: HostEntry) -> tuple[HostEntry, ...]:
    """``entries`` and ``entry``; Conflict if its name is taken."""
    if any(e.name == entry.name for e in entries):
        raise Conflict(f"host {entry.name!r} is already in the inventory",
                       hint=f"`vmctl host rm {entry.name}` first, or choose another name")
    return (*entries, entry)


def find_entry(entries: tuple[HostEntry, ...], name: str, source: str) -> HostEntry:
    """The entry called ``name``; NotFound listing the known names otherwise."""
    for entry in entries:
        if entry.name == name:
            return entry
    if entries:
        known = ", ".join(e.name for e in entries)
        hint = f"known hosts: {known} (`vmctl host ls`)"
    else:
        hint = "the inventory is empty: `vmctl host add NAME URI`"
    raise NotFound(f"no host {name!r} in the inventory {source}", hint=hint)


def with_drained(entries: tuple[HostEntry, ...], name: str, drained: bool, source: str) -> tuple[HostEntry, ...]:
    """``entries`` with host ``name`` marked drained (or not); NotFound if there is none."""
    found = find_entry(entries, name, source)
    return tuple(replace(e, drained=drained) if e is found else e for e in entries)


def without_entry(entries: tuple[HostEntry, ...], name: str, source: str) -> tuple[tuple[HostEntry, ...], HostEntry]:
    """``entries`` less the one called ``name`` (NotFound if none), and that entry."""
    gone = find_entry(entries, name, source)
    return tuple(e for e in entries if e is not gone), gone
