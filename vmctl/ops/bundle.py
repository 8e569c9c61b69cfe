"""The failure bundle: what a CI job needs to debug a run that failed, timed out or
was cancelled, written before the VM is removed.

    ARTIFACTS/<run name>/
        result.json    why it failed (exit status, timeout, cancel, vmctl's error)
        console.log    the serial console from the first line of boot
        dmesg.txt      the guest kernel's log        (when the guest still answers)
        journal.txt    the newest system log lines   (journalctl, logread or /var/log)
        info.json      `vmctl info --json` of the VM
        events.jsonl   what vmctl and libvirt did, one JSON object per line

Files are written 0600 in a 0700 directory: a console or a journal can hold secrets.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput, VmctlError
from vmctl.guest.access import GuestAccess
from vmctl.ops.vms import info_of
from vmctl.virt import domains
from vmctl.virt.host import Host

# One fixed script (never formatted): the newest system log lines, whichever logger the guest has.
JOURNAL_SCRIPT = (
    "if command -v journalctl >/dev/null 2>&1; then journalctl -b -n 300 --no-pager; "
    "elif command -v logread >/dev/null 2>&1 && logread >/dev/null 2>&1; then logread | tail -n 300; "
    "elif [ -r /var/log/messages ]; then tail -n 300 /var/log/messages; "
    "elif [ -r /var/log/syslog ]; then tail -n 300 /var/log/syslog; "
    "else echo 'no system log found (journalctl, logread, /var/log/messages, /var/log/syslog)'; fi"
)
GUEST_LOGS: dict[str, tuple[str, ...]] = {
    "dmesg.txt": ("dmesg",),
    "journal.txt": ("sh", "-c", JOURNAL_SCRIPT),
}


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: tuple[str, ...]


def bundle_dir(artifacts: Path, name: str) -> Path:
    return artifacts / name


def write_bundle(artifacts: Path, name: str, *, result: Mapping[str, object], console: str,
                 info: Mapping[str, object] | None, events: Sequence[Mapping[str, object]],
                 guest_logs: Mapping[str, str]) -> Bundle:
    """Write the bundle of run ``name`` under ``artifacts``; returns where and what."""
    if artifacts.exists() and not artifacts.is_dir():
        raise InvalidInput(f"--artifacts {artifacts} is not a directory", hint="give a directory (made if missing)")
    path = bundle_dir(artifacts, name)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    files: dict[str, str] = {
        "result.json": json.dumps({**result, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n",
        "console.log": console,
        "events.jsonl": "".join(json.dumps(dict(e)) + "\n" for e in events),
    }
    if info is not None:
        files["info.json"] = json.dumps(dict(info), indent=2, default=str) + "\n"
    files.update(guest_logs)
    for file_name, text in files.items():
        _write_private(path / file_name, text)
    return Bundle(path, tuple(sorted(files)))


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def guest_logs(session, deadline: float) -> dict[str, str]:
    """The guest's kernel log and system log over ``session`` (an SshSession, or None
    when the guest never answered), each bounded by ``deadline`` (monotonic)."""
    return {file_name: _guest_text(session, argv, deadline) for file_name, argv in GUEST_LOGS.items()}


def _guest_text(session, argv: tuple[str, ...], deadline: float) -> str:
    remaining = deadline - time.monotonic()
    if session is None:
        return "(not collected: the guest did not answer SSH)\n"
    if remaining <= 0.05:
        return "(not collected: no time left)\n"
    try:
        got = session.run(argv, timeout=remaining)
    except (VmctlError, OSError) as exc:
        return f"(not collected: {getattr(exc, 'message', exc)})\n"
    text = got.stdout.decode("utf-8", "replace")
    if got.stderr:
        text += got.stderr.decode("utf-8", "replace")
    return text


def bundle_of_vm(host: Host, access: GuestAccess, name: str, artifacts: Path, *, reason: str, budget: float = 10.0) -> Bundle:
    """A failure bundle of an existing VM (a test's, say): its logs over SSH, its
    info; no console log (only a VM vmctl run started has one recorded)."""
    deadline = time.monotonic() + budget
    try:
        info: dict[str, object] | None = info_of(host, domains.lookup(host, name)).to_dict()
    except VmctlError as exc:
        info = {"error": exc.message}
    try:
        with access.session(name) as session:
            logs = guest_logs(session, deadline)
    except VmctlError as exc:
        logs = {f: f"(not collected: {exc.message})\n" for f in GUEST_LOGS}
    return write_bundle(artifacts, name, result={"name": name, "reason": reason},
                        console="(not recorded: only a VM that `vmctl run` started has its console log)\n",
                        info=info, events=[], guest_logs=logs)
