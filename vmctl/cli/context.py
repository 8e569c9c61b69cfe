"""Per-invocation state shared by the commands: the global options and the
lazily opened API object."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmctl.api import Vmctl


@dataclass
class State:
    uri: str | None = None
    debug: bool = False
    api: "Vmctl | None" = None


STATE = State()


def api() -> "Vmctl":
    if STATE.api is None:
        from vmctl.api import Vmctl  # the whole stack: imported only once a command runs

        STATE.api = Vmctl(STATE.uri)
    return STATE.api


def close() -> None:
    if STATE.api is not None:
        STATE.api.close()
        STATE.api = None
