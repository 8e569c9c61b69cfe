"""The hosts inventory for scripts and the CLI: named libvirt URIs kept on this machine
(``$VMCTL_HOSTS``, else ``hosts.yaml`` in the user's config directory). Plain functions,
not :class:`vmctl.api.Vmctl` methods: the inventory belongs to no connection, and none of
these opens one. ``Vmctl(host_uri("hv1"))`` connects to an entry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from vmctl.errors import HostError, VmctlError
from vmctl.ops.inventory import Inventory, add_host, host_uri, list_hosts, remove_host
from vmctl.spec.hosts import HostEntry
from vmctl.spec.uris import display_uri

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.ops.vms import VmInfo

T = TypeVar("T")

__all__ = ["HostEntry", "HostListing", "HostStats", "Inventory", "add_host", "host_uri", "list_all_hosts",
           "list_hosts", "remove_host", "stats_all_hosts"]



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
    one host never fails the whole list (HostError only when none answers). NotFound when
    the inventory is empty."""
    return [HostListing(entry.name, entry.uri, tuple(vms or ()), error)
            for entry, vms, error in _each_host(lambda api: api.list(labels=labels), timeout)]


@dataclass(frozen=True)
class HostStats:
    """One inventory host's resources and VMs (``error``: why there are no figures)."""

    host: str
    uri: str
    accel: str = ""
    cpus: int = 0
    memory_mib: int = 0
    free_memory_mib: int = 0
    pool_free_bytes: int | None = None
    vms_running: int = 0
    vms: int = 0
    error: str | None = None
    drained: bool = False  # the inventory's flag (`vmctl host drain`)

    def to_dict(self) -> dict[str, object]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "uri": display_uri(self.uri)}


def stats_all_hosts(*, timeout: float = 30.0) -> list[HostStats]:
    """Every inventory host's CPUs, memory (free of total), pool space and VMs (running of
    all), asked in parallel as :func:`list_all_hosts` does."""
    def ask(api: "Vmctl") -> tuple[object, list["VmInfo"]]:
        return api.host_info(), api.list()
    found = []
    for entry, answer, error in _each_host(ask, timeout):
        if answer is None:
            found.append(HostStats(entry.name, entry.uri, error=error, drained=entry.drained))
            continue
        info, vms = answer
        found.append(HostStats(entry.name, entry.uri, info.accel, info.cpus, info.memory_mib, info.free_memory_mib,
                               info.pool_free_bytes, sum(1 for vm in vms if vm.state == "running"), len(vms),
                               drained=entry.drained))
    return found


def _each_host(ask: Callable[["Vmctl"], T], timeout: float) -> list[tuple[HostEntry, T | None, str | None]]:
    """``ask`` of every inventory host on its own connection, in parallel: (entry, answer,
    None) or (entry, None, why). NotFound when the inventory is empty, HostError (naming
    each host's error) when no host answered."""
    from vmctl.errors import NotFound

    entries = list_hosts().hosts
    if not entries:
        raise NotFound("the hosts inventory is empty", hint="add hosts with `vmctl host add NAME URI`")

    def one(entry: HostEntry) -> T:
        from vmctl.api import Vmctl

        with Vmctl(entry.uri) as api:
            return ask(api)
    answers = answers_within(entries, one, timeout)
    found = [(e, None, answer.why) if isinstance(answer, NoAnswer) else (e, answer, None)
             for e, answer in ((e, answers[e.name]) for e in entries)]
    if all(error is not None for _entry, _answer, error in found):
        raise HostError("no host of the inventory answered: " + "; ".join(f"{e.name}: {error}"
                                                                           for e, _answer, error in found),
                        hint="see `vmctl host ls`")
    return found


@dataclass(frozen=True)
class NoAnswer:
    """Why a host gave no answer: its error, or none within the time."""

    why: str


def answers_within(entries: "Sequence[HostEntry]", work: Callable[[HostEntry], T], timeout: float
                   ) -> dict[str, "T | NoAnswer"]:
    """``work(entry)`` for every entry on its own thread, all within ``timeout`` seconds:
    entry name -> its answer, or a NoAnswer (its error; no answer in time). Daemon threads:
    a host that never answers (an SSH connect hanging) must not hold the process."""
    results: dict[str, T | NoAnswer] = {}

    def one(entry: HostEntry) -> None:
        try:
            results[entry.name] = work(entry)
        except VmctlError as exc:
            results[entry.name] = NoAnswer(exc.message)
        except Exception as exc:  # noqa: BLE001 - a host's failure is reported, never raised
            results[entry.name] = NoAnswer(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=one, args=(entry,), daemon=True) for entry in entries]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    return {e.name: results.get(e.name, NoAnswer(f"no answer within {timeout:.0f} s")) for e in entries}
