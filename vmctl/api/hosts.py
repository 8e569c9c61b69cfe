"""The hosts inventory for scripts and the CLI: named libvirt URIs kept on this machine
(``$VMCTL_HOSTS``, else ``hosts.yaml`` in the user's config directory). Plain functions,
not :class:`vmctl.api.Vmctl` methods: the inventory belongs to no connection, and none of
these opens one. ``Vmctl(host_uri("hv1"))`` connects to an entry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmctl.errors import VmctlError
from vmctl.ops.inventory import Inventory, add_host, host_uri, list_hosts, remove_host
from vmctl.spec.hosts import HostEntry
from vmctl.spec.uris import display_uri

if TYPE_CHECKING:
    from vmctl.ops.vms import VmInfo

__all__ = ["HostEntry", "HostListing", "Inventory", "add_host", "host_uri", "list_all_hosts", "list_hosts",
           "remove_host"]



@dataclass(frozen=True)
class HostListing:
    """One inventory host's answer to a fleet-wide list: its VMs, or why there are none."""

    host: str
    uri: str
    vms: tuple["VmInfo", ...] = ()
    error: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "uri": display_uri(self.uri), "error": self.error,
                "vms": [vm.to_dict() for vm in self.vms]}


def list_all_hosts(*, labels: Mapping[str, str] | None = None, timeout: float = 30.0) -> list[HostListing]:
    """Every inventory host's VMs, asked in parallel (one connection each). A host that
    fails, or does not answer within ``timeout`` seconds, is a listing with an ``error``:
    one host never fails the whole list. NotFound when the inventory is empty."""
    from vmctl.errors import NotFound

    entries = list_hosts().hosts
    if not entries:
        raise NotFound("the hosts inventory is empty", hint="add hosts with `vmctl host add NAME URI`")
    results: dict[str, HostListing] = {}

    def ask(entry: HostEntry) -> None:
        from vmctl.api import Vmctl

        try:
            with Vmctl(entry.uri) as api:
                results[entry.name] = HostListing(entry.name, entry.uri, tuple(api.list(labels=labels)))
        except VmctlError as exc:
            results[entry.name] = HostListing(entry.name, entry.uri, error=exc.message)
        except Exception as exc:  # noqa: BLE001 - a host's failure is reported, never raised
            results[entry.name] = HostListing(entry.name, entry.uri, error=f"{type(exc).__name__}: {exc}")

    # daemon threads: a host that never answers (an SSH connect hanging) must not hold the process
    workers = [threading.Thread(target=ask, args=(entry,), daemon=True) for entry in entries]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    return [results.get(e.name) or HostListing(e.name, e.uri, error=f"no answer within {timeout:.0f} s")
            for e in entries]
