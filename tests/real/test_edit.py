"""`vmctl edit` on a real VM: an editor's change is defined; a hostile or broken one is
refused with the definition left as it was; no change defines nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vmctl.cli.app import run
from vmctl.virt import domains


def editor(tmp_path: Path, name: str, body: str) -> str:
    """An $EDITOR: a Python script that rewrites the file it is given."""
    script = tmp_path / f"{name}.py"
    script.write_text("import sys\nfrom pathlib import Path\np = Path(sys.argv[1])\nx = p.read_text()\n" + body
                      + "\np.write_text(x)\n")
    return f"{sys.executable} {script}"


def test_edit_defines_checked_changes_only(api, tiny, vm_name, tmp_path, monkeypatch, capsys):
    api.create(vm_name, start=False, memory="512M")
    before = domains.lookup(api.host, vm_name).xml(inactive=True)

    monkeypatch.setenv("EDITOR", "true")  # the editor changes nothing
    assert run(["edit", vm_name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False

    monkeypatch.setenv("EDITOR", editor(tmp_path, "grow", "import re\nx = re.sub(r'<memory unit=.KiB.>\\d+',"
                                        " '<memory unit=\"KiB\">786432', x)\nx = re.sub(r'<currentMemory "
                                        "unit=.KiB.>\\d+', '<currentMemory unit=\"KiB\">786432', x)"))
    assert run(["edit", vm_name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"vm": vm_name, "changed": True, "applies": "now"}
    assert api.info(vm_name).memory_mib == 768
    grown = domains.lookup(api.host, vm_name).xml(inactive=True)
    assert grown != before

    hostile = editor(tmp_path, "hostile", "x = x.replace('</devices>', \"<disk type='file' device='disk'>"
                     "<source file='/etc/shadow'/><target dev='vdz' bus='virtio'/></disk></devices>\")")
    broken = editor(tmp_path, "broken", "x = x.replace('</domain>', '')")
    for bad in (hostile, broken):
        monkeypatch.setenv("EDITOR", bad)
        assert run(["edit", vm_name, "--json"]) == 3  # not a terminal: refused, not asked again
        assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid-input"
        assert domains.lookup(api.host, vm_name).xml(inactive=True) == grown

    # scripts: --print and --file
    assert run(["edit", vm_name, "--print"]) == 0
    printed = capsys.readouterr().out
    assert f"<name>{vm_name}</name>" in printed
    new = tmp_path / "new.xml"
    new.write_text(printed.replace("<vcpu placement='static'>1</vcpu>", "<vcpu placement='static'>2</vcpu>"))
    assert run(["edit", vm_name, "--file", str(new)]) == 0
    assert api.info(vm_name).vcpus == 2
