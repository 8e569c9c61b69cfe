"""What a test holds: one VM with exec/cp helpers (through vmctl's Python API)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmctl.api import Vmctl


@dataclass(frozen=True)
class GuestResult:
    argv: tuple[str, ...]
    exit_status: int
    stdout: str
    stderr: str


class GuestCommandFailed(AssertionError):
    """A command a test ran with ``check=True`` exited non-zero (an assertion failure)."""

    def __init__(self, result: GuestResult) -> None:
        super().__init__(f"{' '.join(result.argv)} exited {result.exit_status}\n"
                         f"--- stdout\n{result.stdout[-2000:]}--- stderr\n{result.stderr[-2000:]}")
        self.result = result


class VmHandle:
    """A VM under test: ``vm.exec("uname", "-r")``, ``vm.sh("echo $HOME")``,
    ``vm.put(local, "/root/x")``, ``vm.get("/root/x", local)``."""

    def __init__(self, api: "Vmctl", name: str) -> None:
        self.api, self.name = api, name

    def exec(self, *argv: str, check: bool = True, timeout: float | None = 120.0,
             env: Mapping[str, str] | None = None) -> GuestResult:
        out: list[bytes] = []
        err: list[bytes] = []
        status = self.api.exec(self.name, list(argv), env=dict(env) if env else None, timeout=timeout,
                               out=out.append, err=err.append)
        result = GuestResult(tuple(argv), status, b"".join(out).decode("utf-8", "replace"),
                             b"".join(err).decode("utf-8", "replace"))
        if check and status != 0:
            raise GuestCommandFailed(result)
        return result

    def sh(self, script: str, **kwargs: object) -> GuestResult:
        """``script`` as one argument to ``sh -c`` (never formatted into a command line)."""
        return self.exec("sh", "-c", script, **kwargs)  # type: ignore[arg-type]

    def put(self, local: str | Path, remote: str, *, recursive: bool = False) -> None:
        self.api.copy(str(local), f"{self.name}:{remote}", recursive=recursive)

    def get(self, remote: str, local: str | Path, *, recursive: bool = False) -> None:
        self.api.copy(f"{self.name}:{remote}", str(local), recursive=recursive)

    def info(self):
        return self.api.info(self.name)

    def __repr__(self) -> str:
        return f"VmHandle({self.name!r})"
