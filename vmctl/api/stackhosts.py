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

from vmctl.errors import HostError
from vmctl.policy.stackplace import HERE

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.spec.hosts import HostEntry


@dataclass
class StackHosts:
    """Open connections by host name (HERE: the caller's own), closed by :meth:`close`."""

    here: "Vmctl"
    entries: "list[HostEntry]" = field(default_factory=list)  # the inventory as read (empty: not read)
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
        return self.api(host)._sibling()

    def close(self) -> None:
        for api in self.apis.values():
            api.close()


def connect(here: "Vmctl", inventory: "list[HostEntry]", entries: "list[HostEntry]", *, strict: bool,
            timeout: float = 30.0) -> StackHosts:
    """Connections to ``entries`` of the ``inventory`` (besides HERE), opened in parallel:
    a host that does not answer within ``timeout`` seconds never holds the command.
    ``strict``: a host that cannot be reached raises; otherwise it is recorded in
    ``unreachable``."""
    from vmctl.api import Vmctl
    from vmctl.api.hosts import NoAnswer, answers_within
    from vmctl.virt.migrate import host_uuid

    hosts = StackHosts(here, list(inventory))
    mine = host_uuid(here.host)

    def one(entry: "HostEntry") -> tuple["Vmctl", str]:
        api = Vmctl(entry.uri, pool=here.pool_name, pool_path=here.pool_path, labels=here.labels)
        try:
            return api, host_uuid(api.host)
        except BaseException:
            api.close()
            raise

    answers = answers_within(entries, one, timeout)
    for entry in entries:
        answer = answers[entry.name]
        if isinstance(answer, NoAnswer):
            hosts.unreachable[entry.name] = answer.why
        elif mine and answer[1] == mine:
            answer[0].close()
            hosts.here_alias = entry.name
        else:
            hosts.apis[entry.name] = answer[0]
    if strict and hosts.unreachable:
        hosts.close()
        raise HostError("; ".join(f"host {name}: {why}" for name, why in hosts.unreachable.items()),
                        hint="the stack places VMs there: bring the host back, or change `host:`; nothing was changed")
    return hosts
