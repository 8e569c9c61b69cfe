"""What libvirt says happened to a domain (its lifecycle events), as vmctl reports them."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LifecycleEvent:
    time: float    # wall clock, seconds
    name: str
    uuid: str
    event: str     # defined, undefined, started, suspended, resumed, stopped, shutdown, pmsuspended, crashed
    detail: str    # why: booted, migrated, restored, from-snapshot, destroyed, shutdown, failed, ...
    host: str      # the libvirt URI it came from

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.time)) + f".{int(self.time % 1 * 1000):03d}Z"
        return data

    def line(self) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(self.time))
        return f"{clock} {self.name} {self.event} ({self.detail})"
