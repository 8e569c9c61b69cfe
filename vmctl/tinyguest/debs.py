"""Fetching and unpacking the Debian packages the tiny guest is made of."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from pathlib import Path

from vmctl.errors import OperationFailed
from vmctl.tinyguest.hosttools import run

APT_HINT = (
    "run 'apt-get update' (the package lists are missing or stale) and retry; "
    "the host must reach a Debian mirror"
)
_APT_OPTS = ("-q", "-o", "APT::Sandbox::User=root")


def resolve_kernel_package(meta: str) -> str:
    """The real ``linux-image-<version>-amd64`` package a meta package points to."""
    out = run(["apt-cache", "depends", meta], what=f"apt-cache depends {meta}", hint=APT_HINT)
    for line in out.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+)", line)
        if m:
            return m.group(1)
    raise OperationFailed(f"cannot find the kernel package behind {meta}", APT_HINT)


def download(packages: Iterable[str], dest: Path) -> dict[str, Path]:
    """``apt-get download`` packages into ``dest``; return {package: .deb path}."""
    names = list(packages)
    run(["apt-get", "download", *_APT_OPTS, *names], what="apt-get download", hint=APT_HINT, cwd=dest)
    debs: dict[str, Path] = {}
    for deb in sorted(dest.glob("*.deb")):
        debs[deb_field(deb, "Package")] = deb
    missing = [n for n in names if n not in debs]
    if missing:
        raise OperationFailed("apt-get download did not fetch " + ", ".join(missing), APT_HINT)
    return debs


def deb_field(deb: Path, field: str) -> str:
    """One control field of a .deb (``Package``, ``Version``...)."""
    return run(["dpkg-deb", "-f", deb, field], what=f"dpkg-deb -f {deb.name}").strip()


def unpack(deb: Path, dest: Path) -> None:
    """Unpack a whole .deb into ``dest`` (``dpkg-deb -x``)."""
    run(["dpkg-deb", "-x", deb, dest], what=f"unpacking {deb.name}")


def extract(deb: Path, dest: Path, patterns: Iterable[str]) -> None:
    """Unpack only the members of a .deb matching shell ``patterns`` into ``dest``."""
    pats = list(patterns)
    with subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as src:
        assert src.stdout is not None
        tar = subprocess.run(
            ["tar", "-x", "-C", str(dest), "--wildcards", "--no-same-owner", *pats],
            stdin=src.stdout,
            capture_output=True,
            check=False,
        )
        src.stdout.close()
        src_err = src.stderr.read() if src.stderr else b""
        src.wait()
    # tar exits 2 when a pattern matched nothing; the caller checks what it needs.
    if src.returncode != 0 or tar.returncode not in (0, 2):
        detail = (src_err or tar.stderr).decode(errors="replace").strip()
        raise OperationFailed(f"extracting from {deb.name} failed: {detail}")
