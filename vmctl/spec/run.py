"""What ``vmctl run`` is asked for: an ephemeral VM, one command or script in it,
artefacts to copy back, and where a failure bundle goes."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from vmctl.errors import InvalidInput
from vmctl.spec.request import CreateRequest

RUN_PREFIX = "run-"
RUN_LABEL = "vmctl.run"        # every run VM carries it: "ephemeral", or "kept" after --keep-on-failure
KEPT = "kept"
EPHEMERAL = "ephemeral"
GUEST_SCRIPT = "/tmp/vmctl-run-script"  # where --script is uploaded (mode 0700)


def new_run_name() -> str:
    return RUN_PREFIX + secrets.token_hex(4)


@dataclass(frozen=True)
class Collect:
    """``GUEST_PATH:HOST_DIR``: copy a guest file or directory into a host directory."""

    guest_path: str
    host_dir: Path

    @classmethod
    def parse(cls, text: str) -> "Collect":
        guest, sep, host = text.partition(":")
        if not sep or not guest or not host:
            raise InvalidInput(f"--collect {text!r} is not GUEST_PATH:HOST_DIR",
                               hint="e.g. --collect /var/log/app:./artifacts")
        if not guest.startswith("/"):
            raise InvalidInput(f"--collect {text!r}: the guest path must be absolute",
                               hint="e.g. --collect /root/out:./artifacts")
        return cls(guest, Path(host))


@dataclass(frozen=True)
class RunRequest:
    create: CreateRequest
    argv: tuple[str, ...] = ()         # the command, or the script's arguments
    script: Path | None = None         # a host file uploaded and run (with argv as its arguments)
    env: dict[str, str] = field(default_factory=dict, repr=False)  # values may be secrets
    collect: tuple[Collect, ...] = ()
    artifacts: Path | None = None      # the failure bundle goes to ARTIFACTS/<run name>/
    keep_on_failure: bool = False
    timeout: float | None = None       # the command's time limit (None: none)
    ready_timeout: float | None = None  # boot + SSH; None: scaled from the accelerator

    def __post_init__(self) -> None:
        if not self.argv and self.script is None:
            raise InvalidInput("vmctl run needs a command or --script", hint="vmctl run -- make test")
        if self.script is not None and not self.script.is_file():
            raise InvalidInput(f"--script {self.script}: no such file", hint="give a script on this host")
        if self.timeout is not None and self.timeout <= 0:
            raise InvalidInput(f"--timeout {self.timeout:g} must be positive", hint="e.g. --timeout 600")
        if not self.create.start:
            raise InvalidInput("a run VM always starts", hint="drop --no-start")

    @property
    def name(self) -> str:
        return self.create.name

    def guest_argv(self) -> tuple[str, ...]:
        return (GUEST_SCRIPT, *self.argv) if self.script is not None else self.argv
