"""Running the host tools the tiny guest build needs, with vmctl errors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from vmctl.errors import HostError, OperationFailed

# Host tool -> Debian package that provides it.
TOOL_PACKAGES = {
    "apt-get": "apt",
    "apt-cache": "apt",
    "dpkg-deb": "dpkg",
    "tar": "tar",
    "modinfo": "kmod",
    "cpio": "cpio",
    "mkfs.ext4": "e2fsprogs",
    "qemu-img": "qemu-utils",
}


def require_tools(*names: str) -> None:
    """Raise HostError naming the packages to install if a tool is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pkgs = sorted({TOOL_PACKAGES.get(n, n) for n in missing})
        raise HostError(
            "building the tiny guest needs " + ", ".join(missing),
            "install them: apt-get install " + " ".join(pkgs),
        )


def run_bytes(
    cmd: Sequence[str | Path],
    *,
    what: str,
    hint: str = "",
    cwd: Path | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """Run ``cmd``; return its stdout or raise OperationFailed with its last stderr line."""
    try:
        proc = subprocess.run(
            [str(c) for c in cmd],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            check=False,
        )
    except OSError as exc:
        raise HostError(f"{what}: cannot run {cmd[0]}: {exc.strerror}", hint) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        detail = err[-1] if err else f"exit status {proc.returncode}"
        raise OperationFailed(f"{what} failed: {detail}", hint)
    return proc.stdout


def run(
    cmd: Sequence[str | Path],
    *,
    what: str,
    hint: str = "",
    cwd: Path | None = None,
) -> str:
    """Like :func:`run_bytes`, returning stdout as text."""
    return run_bytes(cmd, what=what, hint=hint, cwd=cwd).decode(errors="replace")
