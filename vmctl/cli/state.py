"""What one vmctl invocation knows: the global options, what the command asked
for (--json), and the API object, opened on first use. It lives in click's
context (``ctx.obj``), never in a module global."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmctl.api import Vmctl


@dataclass
class CliState:
    uri: str | None = None
    host: str | None = None  # -H NAME: a host of the inventory, resolved to its URI on first use
    debug: bool = False
    json: bool = False
    quiet: bool = False  # -q: lines, tables and notes for people are not printed
    json_lines: bool = False  # the command writes JSON lines (migrate --json): errors too are one line
    failure_exit: int | None = None  # exec: vmctl's own failures exit 255 (see docs/errors.md)
    _api: "Vmctl | None" = None

    def api(self) -> "Vmctl":
        if self._api is None:
            from vmctl.api import Vmctl  # the API stack: imported only once a command runs

            _log_to_stderr()
            self._api = Vmctl(self.target_uri())
        return self._api

    def check_target(self) -> None:
        """-c URI and -H NAME both name the host: giving both is an error (exit 3)."""
        if self.uri and self.host:
            from vmctl.errors import InvalidInput

            raise InvalidInput("both -c URI and -H NAME given", hint="give one: -c names a libvirt URI, "
                               "-H a host of the inventory (`vmctl host ls`)")

    def target_uri(self) -> str | None:
        """The URI to connect to: -c's, the inventory's for -H (NotFound if unknown), else None
        (libvirt's default). Reading the inventory opens no connection."""
        self.check_target()
        if self.host:
            from vmctl.api.hosts import host_uri

            return host_uri(self.host)
        return self.uri

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None


def _log_to_stderr() -> None:
    """The library logs warnings to the 'vmctl' logger; the CLI shows them on stderr
    as ``warning: ...``."""
    import logging
    import sys

    class Stderr(logging.StreamHandler):
        vmctl_cli = True

        @property  # type: ignore[override]
        def stream(self):  # sys.stderr as it is when a record is written (tests swap it)
            return sys.stderr

        @stream.setter
        def stream(self, _value) -> None:
            pass

        def format(self, record: logging.LogRecord) -> str:
            return f"{record.levelname.lower()}: {record.getMessage()}"

    logger = logging.getLogger("vmctl")
    if not any(getattr(h, "vmctl_cli", False) for h in logger.handlers):
        logger.addHandler(Stderr())
        logger.setLevel(logging.WARNING)


def state() -> CliState:
    """The state of the running invocation (from click's context stack)."""
    import click  # not at import time: the fast path (vmctl.cli.main) never loads click

    ctx = click.get_current_context()
    found = ctx.find_object(CliState)
    if found is None:
        found = ctx.ensure_object(CliState)
    return found


def api() -> "Vmctl":
    return state().api()


def remember_json(value: bool) -> bool:
    """Callback of every --json option: errors of this invocation are reported as JSON too;
    a --json given before the command counts as well."""
    if value:
        state().json = True
    return value or state().json


def remember_quiet(value: bool) -> bool:
    """Callback of every -q option: a -q given before the command counts as well."""
    if value:
        state().quiet = True
    return value or state().quiet


def quiet_now() -> bool:
    """Whether the running invocation asked for -q (False outside one)."""
    import sys

    if "click" not in sys.modules:
        return False
    import click

    ctx = click.get_current_context(silent=True)
    found = ctx.find_object(CliState) if ctx is not None else None
    return bool(found is not None and found.quiet)
