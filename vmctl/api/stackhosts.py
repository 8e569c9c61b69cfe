"""The hosts a stack lives on, as connections: the one vmctl was given (``HERE``) and the
inventory's hosts its ``host:`` keys name or match. A stack without ``host:`` needs only
HERE and never reads the inventory; ``down`` and ``ps`` look on HERE and every host of the
inventory (the stack's VMs may be anywhere a file once placed them).

An inventory host that is the same libvirt host as HERE (the same libvirt host UUID) is
one host under the inventory's name, never two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vmctl.errors import VmctlError
from vmctl.policy.stackplace import HERE

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.spec.hosts import HostEntry


@dataclass
class StackHosts:
    """Open connections by host name (HERE: the caller's own), closed by :meth:`close`."""

    here: "Vmctl"
    uris: dict[str, str | None] = field(default_factory=dict)
    apis: dict[str, "Vmctl"] = field(default_factory=dict)
    unreachable: dict[str, str] = field(default_factory=dict)   # host -> why
    here_alias: str = HERE                                      # the inventory's name for HERE, if it has one

    def api(self, host: str) -> "Vmctl":
        return self.here if host in (HERE, self.here_alias) else self.apis[host]

    def names(self) -> list[str]:
        """The reachable hosts (HERE under its inventory name when it has one)."""
        return [self.here_alias, *self.apis]

    def worker(self, host: str) -> "Vmctl":
        """A new connection to ``host`` for a worker thread (the caller closes it)."""
        from vmctl.api import Vmctl

        if host == HERE or host == self.here_alias:
            return self.here._sibling()
        return Vmctl(self.uris[host], pool=self.here.pool_name, pool_path=self.here.pool_path, labels=self.here.labels)

    def close(self) -> None:
        for api in self.apis.values():
            api.close()


def connect(here: "Vmctl", entries: "list[HostEntry]", *, strict: bool) -> StackHosts:
    """Connections to ``entries`` (besides HERE). ``strict``: a host that cannot be reached
    raises; otherwise it is recorded in ``unreachable``."""
    from vmctl.api import Vmctl
    from vmctl.virt.migrate import host_uuid

    hosts = StackHosts(here)
    mine = host_uuid(here.host)
    for entry in entries:
        api = Vmctl(entry.uri, pool=here.pool_name, pool_path=here.pool_path, labels=here.labels)
        try:
            same = bool(mine) and host_uuid(api.host) == mine
        except VmctlError as exc:
            api.close()
            if strict:
                exc.message = f"host {entry.name}: {exc.message}"
                hosts.close()
                raise
            hosts.unreachable[entry.name] = exc.message
            continue
        if same:
            api.close()
            hosts.here_alias = entry.name
            hosts.uris[entry.name] = None
            continue
        hosts.uris[entry.name] = entry.uri
        hosts.apis[entry.name] = api
    return hosts
