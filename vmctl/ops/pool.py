"""vmctl's storage pool on a host: found for reading, created only when something is written."""

from __future__ import annotations

import os

from vmctl.spec.uris import is_session_uri
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, ensure_dir_pool, find_pool

DEFAULT_POOL = "vmctl"
DEFAULT_POOL_PATH = "/var/lib/vmctl/pool"


def session_pool_path() -> str:
    """The per-user pool of a ``qemu:///session`` daemon: the user's data directory
    (``$XDG_DATA_HOME/vmctl/pool``, ``~/.local/share/vmctl/pool``), which that daemon can write."""
    from platformdirs import user_data_dir

    return os.path.join(user_data_dir("vmctl", appauthor=False), "pool")


def default_pool_path(uri: str) -> str:
    """Where the pool goes when nobody said (``--pool-path``, ``VMCTL_POOL_PATH``)."""
    return session_pool_path() if is_session_uri(uri) else DEFAULT_POOL_PATH


class PoolRef:
    """The pool by name; ``find()`` never changes the host, ``ensure()`` defines,
    builds and starts the pool when it is missing."""

    def __init__(self, host: Host, name: str = DEFAULT_POOL, path: str | None = None) -> None:
        self.host, self.name = host, name
        self.path = path or default_pool_path(host.uri)
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
