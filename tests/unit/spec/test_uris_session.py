"""Which URIs name a per-user (session) daemon, and where its pool goes."""

from __future__ import annotations

from vmctl.ops.pool import DEFAULT_POOL_PATH, default_pool_path
from vmctl.spec.uris import is_session_uri


def test_session_uris() -> None:
    assert is_session_uri("qemu:///session")
    assert is_session_uri("qemu+ssh://user@host/session")
    assert is_session_uri("qemu:///session/")
    assert not is_session_uri("qemu:///system")
    assert not is_session_uri("qemu+ssh://host/system?keyfile=/k")
    assert not is_session_uri("test:///default")


def test_session_pool_is_the_users(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_pool_path("qemu:///session") == f"{tmp_path}/vmctl/pool"
    assert default_pool_path("qemu:///system") == DEFAULT_POOL_PATH
