"""The documented stack example (docs/examples/stack.yaml) brought up as written, with
only its names prefixed by the test's journaled name (the harness owns every VM it makes):
the web replicas serve their hostnames, the client
fetches both and pings the database by name over the private network, then down leaves
nothing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


def vmctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "vmctl", *args], capture_output=True, text=True, timeout=600,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def test_the_documented_example_runs(api, tiny, vm_name, leftovers, tmp_path):
    before = leftovers()
    text = (DOCS / "stack.yaml").read_text().replace("name: shop", f"name: {vm_name}")
    text = re.sub(r"\b(db|web|client)\b(?!-setup)", lambda m: f"{vm_name}-{m.group(1)}", text)
    (tmp_path / "stack.yaml").write_text(text)
    shutil.copy(DOCS / "web-setup.yaml", tmp_path / "web-setup.yaml")
    try:
        done = vmctl("up", "-f", str(tmp_path / "stack.yaml"))
        assert done.returncode == 0, done.stdout + done.stderr
        seen = api.exec_output(f"{vm_name}-client", ["cat", "/root/checked"]).stdout.decode()
        assert seen == f"{vm_name}-web-1\n{vm_name}-web-2\n"
    finally:
        down = vmctl("down", "--name", vm_name, "--json")
    assert down.returncode == 0, down.stderr
    assert len(json.loads(down.stdout)["removed"]) == 4
    assert leftovers() == before
