"""Which libvirt URI a repair may connect to for the other host of a migration.

A URI read from an intent record is data from a pool file, and on shared storage
another host's root can write that file: libvirt's ``command=``, ``netcat=`` and
``socket=`` parameters (and the ``ext`` transport) name programs it runs. So a
recorded peer URI is never used as it is unless it is identical to one the user
gave (``--peer``, ``-c``, a migration's destination) or to a known host's URI
(``vmctl.local.knownhosts``); a recorded URI without such parameters that names
the same place (transport, user, host, port, path) as a trusted URI leads to that
trusted URI, never to the recorded one. Pure: no I/O.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from vmctl.errors import Conflict
from vmctl.spec.uris import display_uri

RUNS_PROGRAMS = ("command", "netcat", "socket")


def _parts(uri: str) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        p = urlsplit(uri)
        return p.scheme, p.netloc, p.path.rstrip("/"), dict(parse_qsl(p.query, keep_blank_values=True))
    except ValueError:
        return None


def runs_programs(uri: str) -> bool:
    """Does the URI make libvirt's client run a program or open a path it names?"""
    parts = _parts(uri)
    if parts is None:
        return True
    scheme, _, _, query = parts
    return scheme.endswith("+ext") or any(k in query for k in RUNS_PROGRAMS)


def choose_peer(recorded: str, *, explicit: str | None, given: list[str], known: list[str], name: str) -> str:
    """The URI to reach the other host with, or Conflict naming ``--peer``. ``explicit``
    is ``--peer`` (used as given: the user said so), ``given`` other URIs the user
    gave on this command line, ``known`` the known hosts' URIs."""
    if explicit:
        return explicit
    trusted = [u for u in (*given, *known) if u]
    if recorded in trusted:
        return recorded
    hint = (f"name the other host yourself: `vmctl repair {name} --peer URI` (it must have the host UUID the "
            "record names); nothing was changed")
    if runs_programs(recorded):
        raise Conflict(f"the intent record of {name} names its other host as {display_uri(recorded)} with "
                       "parameters that run a program, and that is no URI you gave or a known host's: "
                       "vmctl does not connect to it", hint=hint)
    mine = _parts(recorded)
    for uri in trusted:
        theirs = _parts(uri)
        if mine is not None and theirs is not None and mine[:3] == theirs[:3]:
            return uri
    raise Conflict(f"the intent record of {name} names its other host as {display_uri(recorded)}, which is "
                   "no URI you gave and no known host: vmctl does not connect to it", hint=hint)
