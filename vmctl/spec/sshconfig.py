"""An OpenSSH client configuration for vmctl's guests, so that ssh, scp, rsync and
Ansible use the same trust vmctl does: the pinned host key (through a known_hosts
file vmctl writes, keyed by ``HostKeyAlias``), the key vmctl logs in with, the
port forward, and for a guest on a remote libvirt host a jump through that host.

Values are checked, never trusted: a value with whitespace is quoted, one with a
quote, a control character or a newline (which could add directives) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmctl.errors import InvalidInput

ALIAS_PREFIX = "vmctl-"
_SAFE = re.compile(r"^[^\x00-\x1f\x7f\"]+$")
_KEY_LINE = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+$")


@dataclass(frozen=True)
class JumpEntry:
    alias: str
    hostname: str
    port: int
    user: str | None
    identity_file: str | None
    known_hosts: str | None


@dataclass(frozen=True)
class GuestEntry:
    name: str
    hostname: str
    port: int
    user: str
    identity_file: str
    host_key: str            # "ssh-ed25519 AAAA..."
    jump: JumpEntry | None = None

    @property
    def host_key_alias(self) -> str:
        return ALIAS_PREFIX + self.name


def _value(text: str) -> str:
    if not _SAFE.match(text):
        raise InvalidInput(f"cannot write {text!r} into an SSH config", hint="a value has a quote or control character")
    return f'"{text}"' if any(c.isspace() for c in text) else text


def render_config(entries: list[GuestEntry], known_hosts: str) -> str:
    """The ``Host`` blocks of ``entries`` (and of their jump hosts, once each)."""
    lines = ["# written by `vmctl ssh-config`; host keys pinned in " + _value(known_hosts), ""]
    jumps: dict[str, JumpEntry] = {}
    for entry in entries:
        if entry.jump is not None:
            jumps.setdefault(entry.jump.alias, entry.jump)
    for jump in jumps.values():
        lines += [f"Host {_value(jump.alias)}", f"    HostName {_value(jump.hostname)}", f"    Port {jump.port}"]
        if jump.user:
            lines.append(f"    User {_value(jump.user)}")
        if jump.identity_file:
            lines += [f"    IdentityFile {_value(jump.identity_file)}", "    IdentitiesOnly yes"]
        if jump.known_hosts:
            lines.append(f"    UserKnownHostsFile {_value(jump.known_hosts)}")
        lines += ["    StrictHostKeyChecking yes", ""]
    for entry in entries:
        lines += [f"Host {_value(entry.name)}", f"    HostName {_value(entry.hostname)}", f"    Port {entry.port}",
                  f"    User {_value(entry.user)}", f"    IdentityFile {_value(entry.identity_file)}",
                  "    IdentitiesOnly yes", f"    HostKeyAlias {entry.host_key_alias}",
                  f"    UserKnownHostsFile {_value(known_hosts)}", "    StrictHostKeyChecking yes",
                  "    CheckHostIP no"]
        if entry.jump is not None:
            lines.append(f"    ProxyJump {_value(entry.jump.alias)}")
        lines.append("")
    return "\n".join(lines)


def known_hosts_lines(entries: list[GuestEntry], existing: str = "") -> str:
    """The known_hosts file: ``existing`` lines of other guests kept, these guests' pinned keys (re)written."""
    ours = {entry.host_key_alias for entry in entries}
    kept = [line for line in existing.splitlines() if line.strip() and line.split()[0] not in ours]
    for entry in entries:
        if not _KEY_LINE.match(entry.host_key.strip()):
            raise InvalidInput(f"the pinned host key of {entry.name} is not an OpenSSH public key line",
                               hint=f"see `vmctl info {entry.name}`")
        kept.append(f"{entry.host_key_alias} {entry.host_key.strip()}")
    return "\n".join(kept) + "\n"
