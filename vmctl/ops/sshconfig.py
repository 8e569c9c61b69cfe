"""`vmctl ssh-config`: an OpenSSH config for vmctl's guests (see vmctl.spec.sshconfig)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import GuestError, InvalidInput
from vmctl.guest.access import GuestAccess
from vmctl.guest.endpoint import jump_host_of
from vmctl.local.privatefile import read_text_or_empty, write_private
from vmctl.spec.sshconfig import GuestEntry, JumpEntry, known_hosts_lines, render_config
from vmctl.ssh.keys import ensure_user_key


@dataclass(frozen=True)
class SshConfig:
    text: str
    known_hosts: Path
    entries: list[GuestEntry]
    skipped: list[tuple[str, str]]  # (VM, why): no pinned key, address not known yet

    def to_dict(self) -> dict[str, object]:
        return {"known_hosts": str(self.known_hosts), "config": self.text,
                "hosts": [{"name": e.name, "hostname": e.hostname, "port": e.port, "user": e.user,
                           "jump": e.jump.alias if e.jump else None} for e in self.entries],
                "skipped": [{"name": n, "reason": r} for n, r in self.skipped]}


def default_known_hosts() -> Path:
    from platformdirs import user_data_path

    return user_data_path("vmctl") / "known_hosts"


def ssh_config(access: GuestAccess, names: list[str], *, explicit: bool, known_hosts: Path | None = None) -> SshConfig:
    """Config blocks for ``names``; their pinned keys written to the known_hosts file.
    ``explicit``: the user named them, so one that cannot be reached is an error
    (otherwise it is skipped with the reason)."""
    path = known_hosts or default_known_hosts()
    entries, skipped = [], []
    for name in names:
        try:
            entries.append(_entry(access, name))
        except (GuestError, InvalidInput) as exc:
            if explicit:
                raise
            skipped.append((name, exc.message))
    if entries:
        write_private(path, known_hosts_lines(entries, read_text_or_empty(path)))
    return SshConfig(render_config(entries, str(path)), path, entries, skipped)


def _entry(access: GuestAccess, name: str) -> GuestEntry:
    meta = access.meta(name)
    if not meta.ssh_host_key:
        raise GuestError(f"vmctl has no pinned SSH host key for {name}", hint="only VMs vmctl created have one")
    endpoint = access.endpoint(name)
    if endpoint is None:
        raise GuestError(f"the address of {name} is not known yet", hint=f"`vmctl wait {name}`, then again")
    key = Path(meta.ssh_key_path) if meta.ssh_key_path else ensure_user_key()
    jump = None
    if not access.host.is_local:
        via = jump_host_of(access.host.uri)
        if via is not None:
            jump = JumpEntry(f"vmctl-jump-{via.host}", via.host, via.port, via.user,
                             str(via.key_path) if via.key_path else None,
                             str(via.known_hosts) if via.known_hosts else None)
    return GuestEntry(name, endpoint.host, endpoint.port, meta.ssh_user, str(key), meta.ssh_host_key, jump)
