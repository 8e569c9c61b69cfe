"""Provisioning plans: an ordered list of guest steps read from a YAML file.

File format::

    env: {APP_ENV: test}          # optional, applies to every run/script step
    steps:
      - name: packages            # optional name; default "step-N" (N counts from 1)
        run: [sh, -c, "echo hi > /root/hello"]   # argv list, never joined by a shell on the host
        env: {X: "1"}             # optional, merged over the top-level env
        timeout: 60               # optional seconds
      - run: "uname -a"           # a STRING is remote shell code (shell=True)
      - script: scripts/setup.sh  # local file, relative to the YAML file's directory
        args: [one, "two words"]  # uploaded to /tmp/vmctl-provision/<step-key>.sh (0700), run with args
      - copy: {src: files/app.conf, dest: /etc/app.conf}   # local file or directory (recursive) -> guest
      - reboot: {}                # reboot the guest, wait until it is reachable again
      - wait_file: /run/app.ready # poll until the file exists in the guest
        timeout: 30
      - wait_port: 8080           # poll until a TCP port listens inside the guest
        timeout: 30

Each step has exactly one action. Keys allowed besides the action: ``name`` on every
step; ``env`` on run/script; ``args`` on script; ``timeout`` on every step but copy.
Timeouts are seconds, more than 0 and at most 24 h; the defaults are 600 s for
run/script, 120 s for waits and 300 s for reboot. Argument lists and env values may
be strings or integers (write other values in quotes). Env names match
``[A-Za-z_][A-Za-z0-9_]*``. Step names must be unique.

Local paths (script, copy src) must stay inside the YAML file's directory: absolute
paths, ``..`` escapes and symlinks that lead outside are refused. The plan file and
scripts may be at most 1 MiB; a missing plan, script or copy source is NotFound.

Every step gets a stable key, ``"<N>-<12 hex digits>"``: a sha256 over what the step
does to the guest (its action, argv, merged env, copy destination, wait target, and
the content of the local files it uploads). The step's name and timeout are not part
of it, so renaming a step or giving it more time does not redo its work.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vmctl.errors import InvalidInput, NotFound

MAX_FILE_BYTES = 1024 * 1024
MAX_TIMEOUT = 24 * 3600.0
DEFAULT_TIMEOUTS = {"run": 600.0, "script": 600.0, "wait_file": 120.0, "wait_port": 120.0, "reboot": 300.0}
REMOTE_SCRIPT_DIR = "/tmp/vmctl-provision"
ACTIONS = ("run", "script", "copy", "reboot", "wait_file", "wait_port")
_EXTRA_KEYS = {
    "run": {"name", "env", "timeout"},
    "script": {"name", "args", "env", "timeout"},
    "copy": {"name"},
    "reboot": {"name", "timeout"},
    "wait_file": {"name", "timeout"},
    "wait_port": {"name", "timeout"},
}
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Step:
    """One validated step. Only the fields of its ``kind`` are set."""

    index: int  # 1-based step number
    name: str
    kind: str  # one of ACTIONS
    key: str
    argv: tuple[str, ...] = ()  # run: the argv, or (shell_code,) when shell is True
    shell: bool = False
    env: tuple[tuple[str, str], ...] = ()  # run/script: merged env, sorted by name
    timeout: float | None = None  # effective timeout (None for copy)
    local: Path | None = None  # script/copy: resolved local path
    local_rel: str = ""  # script/copy: the path as written in the plan
    args: tuple[str, ...] = ()  # script arguments
    dest: str = ""  # copy: guest destination
    recursive: bool = False  # copy: the source is a directory
    path: str = ""  # wait_file: guest path
    port: int = 0  # wait_port: guest TCP port

    @property
    def remote_script(self) -> str:
        """Where a script step's file is uploaded in the guest."""
        return f"{REMOTE_SCRIPT_DIR}/{self.key}.sh"

    @property
    def env_map(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class ProvisionPlan:
    """A parsed plan: where it came from and its steps in order."""

    source: Path
    steps: tuple[Step, ...]


def load_plan(path: Path) -> ProvisionPlan:
    """Read, parse and validate a plan file. Raises InvalidInput or NotFound."""
    path = Path(path)
    data = _parse_yaml(_read_limited(path, "provisioning plan"), path)
    return plan_from_data(data, path, path.absolute().parent.resolve())


def plan_from_data(data: Any, path: Path, base: Path) -> ProvisionPlan:
    """A plan given as data (``{"steps": [...]}``, as a plan file holds it; a stack file's
    inline steps), named ``path`` in messages, its local paths relative to ``base``."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: the plan must be a mapping with 'steps'", "see the file format in the docs")
    unknown = sorted(str(k) for k in data if k not in ("env", "steps"))
    if unknown:
        raise InvalidInput(f"{path}: unknown top-level key(s): {', '.join(unknown)}", "allowed: env, steps")
    base_env = _env(data.get("env"), f"{path}: top-level env")
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise InvalidInput(f"{path}: 'steps' must be a non-empty list", "add at least one step")
    steps = tuple(_step(i, raw, base_env, base) for i, raw in enumerate(steps_raw, start=1))
    seen: dict[str, int] = {}
    for step in steps:
        if step.name in seen:
            raise InvalidInput(
                f"step {step.index}: name {step.name!r} is already used by step {seen[step.name]}",
                "give every step its own name",
            )
        seen[step.name] = step.index
    return ProvisionPlan(source=path, steps=steps)


def _read_limited(path: Path, what: str) -> bytes:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist", "check the path") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}", "check the path and permissions") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{what} {path} is not a regular file", "give the path of a file")
    if info.st_size > MAX_FILE_BYTES:
        raise InvalidInput(f"{what} {path} is larger than 1 MiB", "keep plans and scripts small")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}", "check the permissions") from None
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"{what} {path} is larger than 1 MiB", "keep plans and scripts small")
    return data


def _parse_yaml(data: bytes, path: Path) -> Any:
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", "save the plan as UTF-8") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise InvalidInput(f"{path} is not valid YAML{line}", str(exc)) from None


def _step(index: int, raw: Any, base_env: dict[str, str], base: Path) -> Step:
    ctx = f"step {index}"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{ctx}: must be a mapping, not {_tname(raw)}", f"use one of: {', '.join(ACTIONS)}")
    name = raw.get("name", f"step-{index}")
    if not isinstance(name, str) or not name.strip() or not name.isprintable():
        raise InvalidInput(f"{ctx}: name must be a non-empty printable string", "e.g. name: packages")
    ctx = f"step {index} ({name})"
    actions = [k for k in ACTIONS if k in raw]
    if len(actions) != 1:
        problem = "has no action" if not actions else f"has several actions ({', '.join(actions)})"
        raise InvalidInput(f"{ctx}: {problem}", f"each step does exactly one of: {', '.join(ACTIONS)}")
    kind = actions[0]
    unknown = sorted(str(k) for k in raw if k != kind and k not in _EXTRA_KEYS[kind])
    if unknown:
        allowed = ", ".join(sorted(_EXTRA_KEYS[kind]))
        raise InvalidInput(f"{ctx}: unknown key(s) for a {kind} step: {', '.join(unknown)}", f"allowed: {allowed}")
    fields: dict[str, Any] = {}
    if "timeout" in raw or kind in DEFAULT_TIMEOUTS:
        fields["timeout"] = _timeout(raw["timeout"], ctx) if "timeout" in raw else DEFAULT_TIMEOUTS[kind]
    if kind in ("run", "script"):
        env = dict(base_env)
        env.update(_env(raw.get("env"), f"{ctx}: env"))
        fields["env"] = tuple(sorted(env.items()))
    value = raw[kind]
    content = ""
    if kind == "run":
        if isinstance(value, str):
            _text(value, f"{ctx}: run")
            fields.update(argv=(value,), shell=True)
        elif isinstance(value, list) and value:
            fields["argv"] = _strings(value, f"{ctx}: run")
        else:
            raise InvalidInput(f"{ctx}: run must be a non-empty argv list or a shell string", 'e.g. run: [ls, -l]')
    elif kind == "script":
        local, rel = _local_path(value, base, f"{ctx}: script")
        if not local.is_file():
            raise InvalidInput(f"{ctx}: script {rel} is not a regular file", "give the path of a script file")
        content = hashlib.sha256(_read_limited(local, f"{ctx}: script")).hexdigest()
        args = raw.get("args", [])
        if not isinstance(args, list):
            raise InvalidInput(f"{ctx}: args must be a list, not {_tname(args)}", 'e.g. args: [one, "two words"]')
        fields.update(local=local, local_rel=rel, args=_strings(args, f"{ctx}: args"))
    elif kind == "copy":
        if not isinstance(value, dict) or set(value) != {"src", "dest"}:
            raise InvalidInput(f"{ctx}: copy must be a mapping with exactly src and dest", "e.g. copy: {src: a.conf, dest: /etc/a.conf}")
        local, rel = _local_path(value["src"], base, f"{ctx}: copy src")
        fields.update(local=local, local_rel=rel, recursive=local.is_dir(), dest=_guest_path(value["dest"], f"{ctx}: copy dest"))
        content = _tree_hash(local, base, ctx)
    elif kind == "reboot":
        if value not in (None, {}):
            raise InvalidInput(f"{ctx}: reboot takes no options", "write reboot: {} (and timeout: on the step)")
    elif kind == "wait_file":
        fields["path"] = _guest_path(value, f"{ctx}: wait_file")
    else:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
            raise InvalidInput(f"{ctx}: wait_port must be a port number 1-65535, not {value!r}", "e.g. wait_port: 8080")
        fields["port"] = value
    identity = {
        k: fields.get(k) for k in ("argv", "shell", "env", "args", "dest", "recursive", "path", "port")
    }
    identity.update(kind=kind, content=content)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return Step(index=index, name=name, kind=kind, key=f"{index}-{digest[:12]}", **fields)


def _tname(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _text(value: Any, ctx: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{ctx}: must be a non-empty string, not {value!r}", "quote the value in the YAML file")
    if "\0" in value:
        raise InvalidInput(f"{ctx}: must not contain a NUL character", "remove it")
    return value


def _strings(values: list[Any], ctx: str) -> tuple[str, ...]:
    out = []
    for pos, item in enumerate(values, start=1):
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or "\0" in item:
            raise InvalidInput(f"{ctx}: item {pos} must be a string, not {item!r}", "quote it in the YAML file")
        out.append(item)
    return tuple(out)


def _env(value: Any, ctx: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(f"{ctx} must be a mapping of NAME: value, not {_tname(value)}", "e.g. env: {APP_ENV: test}")
    env = {}
    for key, val in value.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.match(key):
            raise InvalidInput(f"{ctx}: invalid variable name {key!r}", "names match [A-Za-z_][A-Za-z0-9_]*")
        if isinstance(val, int) and not isinstance(val, bool):
            val = str(val)
        if not isinstance(val, str) or "\0" in val:
            raise InvalidInput(f"{ctx}: {key} must be a string, not {val!r}", "quote the value in the YAML file")
        env[key] = val
    return env


def _timeout(value: Any, ctx: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_TIMEOUT:
        raise InvalidInput(f"{ctx}: timeout must be seconds, more than 0 and at most 86400, not {value!r}", "e.g. timeout: 60")
    return float(value)


def _guest_path(value: Any, ctx: str) -> str:
    text = _text(value, ctx)
    if not text.startswith("/"):
        raise InvalidInput(f"{ctx}: {text!r} must be an absolute guest path", "start it with /")
    return text


def _local_path(value: Any, base: Path, ctx: str) -> tuple[Path, str]:
    rel = _text(value, ctx)
    if Path(rel).is_absolute():
        raise InvalidInput(f"{ctx}: {rel} is absolute", "give a path relative to the plan file's directory")
    joined = base / rel
    resolved = joined.resolve()
    if not resolved.is_relative_to(base):
        raise InvalidInput(f"{ctx}: {rel} leads outside the plan file's directory", "keep local files next to the plan")
    if not os.path.lexists(joined) or not resolved.exists():
        raise NotFound(f"{ctx}: {rel} does not exist", f"paths are relative to {base}")
    return resolved, rel


def _tree_hash(root: Path, base: Path, ctx: str) -> str:
    """Hash of a file, or of a directory's names, modes and contents (symlinks checked)."""
    digest = hashlib.sha256()
    entries = [root]
    if root.is_dir():
        for top, dirs, files in os.walk(root):
            dirs.sort()
            entries.extend(Path(top, name) for name in sorted(dirs + files))
    for entry in entries:
        if entry.is_symlink() and not entry.resolve().is_relative_to(base):
            raise InvalidInput(f"{ctx}: {entry} is a symlink leading outside the plan file's directory", "replace it with the file")
        info = entry.stat() if entry.exists() else None
        if info is None or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            raise InvalidInput(f"{ctx}: {entry} is not a regular file or directory", "copy only files and directories")
        if entry != root and entry.is_symlink() and stat.S_ISDIR(info.st_mode):
            raise InvalidInput(f"{ctx}: {entry} is a symlink to a directory", "copy the directory itself")
        rel = entry.relative_to(root).as_posix()
        digest.update(f"{rel}\0{stat.S_IMODE(info.st_mode):o}\0".encode())
        if stat.S_ISREG(info.st_mode):
            with entry.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 16), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()
