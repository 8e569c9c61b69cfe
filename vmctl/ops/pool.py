"""vmctl's storage pool on a host: found for reading, created only when something is written."""

from __future__ import annotations

from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, ensure_dir_pool, find_pool

DEFAULT_POOL = "vmctl"
DEFAULT_POOL_PATH = "/var/lib/vmctl/pool"


class PoolRef:
    """The pool by name; ``find()`` never changes the host, ``ensure()`` defines,
    builds and starts the pool when it is missing."""

    def __init__(self, host: Host, name: str = DEFAULT_POOL, path: str = DEFAULT_POOL_PATH) -> None:
        self.host, self.name, self.path = host, name, path
        self._pool: Pool | None = None

    def find(self) -> Pool | None:
        if self._pool is None:
            self._pool = find_pool(self.host, self.name)
        return self._pool

    def ensure(self) -> Pool:
        if self._pool is None:
            self._pool = ensure_dir_pool(self.host, self.name, self.path)
        return self._pool

    @property
    def effective_path(self) -> str:
        """Where volumes are (or will be) kept."""
        pool = self.find()
        return pool.path if pool is not None else self.path
