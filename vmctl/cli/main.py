"""The ``vmctl`` executable.

The commands scripts call most, ``list`` (also ``--all-hosts``) and ``info NAME``
(with ``--json`` and ``-c URI``), are served by a small fast path that does not load typer and
click (~50 ms of imports, most of a reading command's time). Any other argument
(``--help``, an unknown option, a typo) goes to the full CLI, which parses it
and prints the same views through the same functions.
"""

from __future__ import annotations

import sys


def parse_fast(args: list[str]) -> tuple[str | None, str, str | None, bool] | None:
    """(uri, command, name, json) for the simple forms of list/info, else None."""
    uri = None
    rest = list(args)
    if rest[:1] in (["-c"], ["--connect"]) and len(rest) >= 2 and not rest[1].startswith("-"):
        uri, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("--connect=") and len(rest[0]) > len("--connect="):
        uri, rest = rest[0].partition("=")[2], rest[1:]
    json_out = "--json" in rest
    words = [w for w in rest if w != "--json"]
    if uri is None and words.count("--all-hosts") == 1 and len(rest) - len(words) <= 1 and \
            [w for w in words if w != "--all-hosts"] == ["list"]:
        return None, "list-all-hosts", None, json_out
    if len(rest) - len(words) > 1 or any(w.startswith("-") for w in words):
        return None
    if words == ["list"]:
        return uri, "list", None, json_out
    if len(words) == 2 and words[0] == "info":
        return uri, "info", words[1], json_out
    return None


def run_fast(uri: str | None, command: str, name: str | None, json_out: bool) -> int:
    from vmctl.api import Vmctl
    from vmctl.cli.report import run_reporting
    from vmctl.cli.state import CliState

    def body() -> None:
        from vmctl.cli.views import show_fleet, show_vm, show_vms

        if command == "list-all-hosts":
            from vmctl.api.hosts import list_all_hosts

            show_fleet(list_all_hosts(), json_out)
            return
        with Vmctl(uri) as api:
            if command == "list":
                show_vms(api.list(), json_out)
            else:
                show_vm(api.info(name or ""), json_out)
    return run_reporting(body, CliState(json=json_out))


def main() -> None:
    from vmctl.signals import handle_termination_signals

    handle_termination_signals()  # SIGTERM and SIGHUP unwind like Ctrl-C
    args = sys.argv[1:]
    fast = parse_fast(args)
    if fast is not None:
        code = run_fast(*fast)
    else:
        from vmctl.cli.app import main as full

        full()
        return
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        from vmctl.cli.report import closed_pipe

        code = closed_pipe()
    sys.exit(code)
