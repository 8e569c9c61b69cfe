"""NoCloud ``cidata`` seed ISOs, built and read in pure Python with pycdlib.

The seed carries ``meta-data``, ``user-data`` (``#cloud-config``) and optionally
``network-config``. YAML is rendered with PyYAML's safe dumper; strings that
span several lines (private keys) are written as literal ``|`` blocks and long
lines are never folded, so the tiny guest's small awk parser can read them.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pycdlib
import yaml
from pycdlib.pycdlibexception import PyCdlibException

from vmctl.errors import InvalidInput, NotFound, OperationFailed

SEED_LABEL = "cidata"
USER_DATA_HEADER = "#cloud-config\n"

# Seed file name -> ISO9660 (level 3) name. Guests see the Rock Ridge or Joliet name.
_ISO_NAMES = {
    "meta-data": "/META_DATA.;1",
    "user-data": "/USER_DATA.;1",
    "network-config": "/NETWORK_CONFIG.;1",
}
_HOSTNAME_RE = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*$"
)
_INSTANCE_ID_RE = re.compile(r"^[A-Za-z0-9._:/@+-]{1,128}$")


class _SeedDumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line strings as literal ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_SeedDumper.add_representer(str, _represent_str)


def render_yaml(data: Any) -> str:
    """Render ``data`` as block-style YAML (safe types only, no line folding)."""
    try:
        return yaml.dump(
            data,
            Dumper=_SeedDumper,
            default_flow_style=False,
            sort_keys=False,
            allow_unicode=True,
            width=1 << 16,
        )
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"seed data cannot be written as YAML: {exc}",
            "use only strings, numbers, booleans, lists and mappings",
        ) from exc


def render_seed_files(
    *,
    instance_id: str,
    hostname: str,
    user_data: dict[str, Any] | None = None,
    network_config: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The seed's files as text, keyed by their NoCloud names."""
    if not _INSTANCE_ID_RE.match(instance_id or ""):
        raise InvalidInput(
            f"invalid instance-id {instance_id!r}",
            "use 1-128 letters, digits and ._:/@+- characters",
        )
    if not _HOSTNAME_RE.match(hostname or ""):
        raise InvalidInput(
            f"invalid hostname {hostname!r}",
            "use letters, digits, '-' and '_' in dot-separated labels of at most 63 characters",
        )
    files = {
        "meta-data": render_yaml({"instance-id": instance_id, "local-hostname": hostname}),
        "user-data": USER_DATA_HEADER + render_yaml(dict(user_data or {})),
    }
    if network_config is not None:
        files["network-config"] = render_yaml(network_config)
    return files


def _make_iso(files: dict[str, str]) -> pycdlib.PyCdlib:
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, joliet=3, rock_ridge="1.09", vol_ident=SEED_LABEL)
    for name, text in files.items():
        data = text.encode("utf-8")
        iso.add_fp(
            io.BytesIO(data),
            len(data),
            _ISO_NAMES[name],
            rr_name=name,
            joliet_path="/" + name,
            file_mode=0o100444,
        )
    return iso


def build_seed_iso(
    dest: Path,
    *,
    instance_id: str,
    hostname: str,
    user_data: dict[str, Any] | None = None,
    network_config: dict[str, Any] | None = None,
) -> Path:
    """Write a NoCloud seed ISO (label ``cidata``) to ``dest`` atomically, mode 0600."""
    dest = Path(dest)
    files = render_seed_files(
        instance_id=instance_id,
        hostname=hostname,
        user_data=user_data,
        network_config=network_config,
    )
    iso = _make_iso(files)
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            iso.write_fp(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, dest)
        tmp_name = None
    except OSError as exc:
        raise OperationFailed(
            f"cannot write seed ISO {dest}: {exc.strerror or exc}",
            "check that the directory exists, is writable and has free space",
        ) from exc
    except PyCdlibException as exc:
        raise OperationFailed(f"cannot build seed ISO {dest}: {exc}") from exc
    finally:
        iso.close()
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except FileNotFoundError:
                pass
    return dest


def read_seed_iso(path: Path) -> dict[str, str]:
    """Read a seed ISO back: ``{'meta-data': ..., 'user-data': ..., ...}`` as text."""
    path = Path(path)
    if not path.exists():
        raise NotFound(f"seed ISO {path} does not exist")
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except (OSError, PyCdlibException) as exc:
        raise OperationFailed(f"cannot read seed ISO {path}: {exc}", "is it an ISO9660 image?") from exc
    try:
        result: dict[str, str] = {}
        for name in _ISO_NAMES:
            buf = io.BytesIO()
            try:
                iso.get_file_from_iso_fp(buf, rr_path="/" + name)
            except PyCdlibException:
                continue
            result[name] = buf.getvalue().decode("utf-8")
        return result
    finally:
        iso.close()


def seed_label(path: Path) -> str:
    """The volume label of an ISO image (``cidata`` for a seed)."""
    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except (OSError, PyCdlibException) as exc:
        raise OperationFailed(f"cannot read ISO {path}: {exc}") from exc
    try:
        ident: bytes = iso.pvd.volume_identifier
        return ident.decode("ascii").rstrip(" \x00")
    finally:
        iso.close()
