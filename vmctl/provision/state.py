"""Where the keys of completed provisioning steps are kept between runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class MemoryState:
    """A :class:`~vmctl.provision.runner.ProvisionState` kept in memory (tests, one-off runs)."""

    done: list[str] = field(default_factory=list)
    saves: int = 0

    def load(self) -> list[str]:
        return list(self.done)

    def save(self, done: list[str]) -> None:
        self.done = list(done)
        self.saves += 1


class MetadataState:
    """Completed steps kept in the VM's domain metadata, so they travel with the VM
    (migration, backup) and any vmctl on any machine sees them."""

    def __init__(self, read: Callable[[], Sequence[str]], write: Callable[[tuple[str, ...]], object]) -> None:
        self._read, self._write = read, write

    def load(self) -> list[str]:
        return list(self._read())

    def save(self, done: list[str]) -> None:
        self._write(tuple(done))
