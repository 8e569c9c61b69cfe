"""`vmctl edit NAME`: the definition in $VISUAL/$EDITOR, checked, then defined."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

import typer

from vmctl.cli import options as opt
from vmctl.cli.complete import complete_vm
from vmctl.cli.output import emit_json, line, note, write_bytes
from vmctl.cli.state import api
from vmctl.errors import InvalidInput, NotFound, OperationFailed

app = typer.Typer()


@app.command("edit")
def edit(name: str = typer.Argument(..., help="VM name.", autocompletion=complete_vm),
         file: Path = typer.Option(None, "--file", "-f", help="Take the new definition from FILE (scripts) "
                                   "instead of an editor."),
         print_: bool = typer.Option(False, "--print", help="Print the definition and change nothing."),
         allow_host: bool = typer.Option(False, "--allow-host", help="Allow host files and devices the VM did "
                                         "not use (disks outside vmctl's pool, shared directories, host devices)."),
         json_out: bool = opt.JSON) -> None:
    """Edit a VM's domain XML in $VISUAL or $EDITOR, like `virsh edit`: checked against
    libvirt's schema and vmctl's refusals before it is defined; a running VM takes it
    at its next start."""
    original = api().definition(name)
    if print_:
        write_bytes(original.encode())
        return
    if file is not None:
        try:
            edited = file.read_text()
        except OSError as exc:
            raise NotFound(f"cannot read {file}: {exc.strerror}", hint="give an XML file") from None
        _report(api().edit(name, original, edited, allow_host=allow_host), json_out)
        return
    with tempfile.TemporaryDirectory(prefix="vmctl-edit-") as tmp:  # 0700, removed afterwards
        path = Path(tmp) / f"{name}.xml"
        path.write_text(original)
        path.chmod(0o600)
        while True:
            _run_editor(path)
            try:
                result = api().edit(name, original, path.read_text(), allow_host=allow_host)
            except InvalidInput as exc:
                if not (sys.stdin.isatty() and sys.stderr.isatty()):
                    raise
                note(f"error: {exc.message}")
                if exc.hint:
                    note(f"hint: {exc.hint}")
                if not typer.confirm("Edit again?", default=True, err=True):
                    raise InvalidInput(f"{name} was not changed", hint=exc.hint) from None
                continue
            _report(result, json_out)
            return


def _run_editor(path: Path) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        status = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
    except OSError as exc:
        raise OperationFailed(f"cannot run the editor {editor!r}: {exc.strerror}",
                         hint="set $EDITOR (or $VISUAL) to an editor on this machine") from None
    if status != 0:
        raise OperationFailed(f"the editor {editor!r} failed (exit {status}): nothing was changed",
                         hint="fix the editor, or use --file")


def _report(result, json_out: bool) -> None:
    if json_out:
        emit_json(result.to_dict())
    elif not result.changed:
        line(f"{result.vm}: no change")
    else:
        line(f"{result.vm} defined" + (" (applies at its next start; it runs the old definition now)"
                                       if result.running else ""))
