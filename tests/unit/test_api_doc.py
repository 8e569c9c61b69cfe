"""docs/api.md is what docs/gen_api.py renders from vmctl.api now (issue 15 item 7): a
changed signature or docstring without a regenerated page fails here."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from vmctl.api import Vmctl

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("vmctl_docs_gen_api", DOCS / "gen_api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _public_names() -> list[str]:  # as tests/unit/test_api_surface.py counts them
    names = []
    for name, member in inspect.getmembers(Vmctl):
        function = member.fget if isinstance(member, property) else member
        if not name.startswith("_") and callable(function):
            names.append(name)
    return names


def test_api_page_is_current():
    rendered = _generator().render()
    page = (DOCS / "api.md").read_text()
    assert rendered == page, "docs/api.md is stale: run `python docs/gen_api.py` and commit docs/api.md"


def test_every_public_member_of_vmctl_has_a_section():
    page = (DOCS / "api.md").read_text()
    missing = [name for name in _public_names() if f"\n### Vmctl.{name}\n" not in page]
    assert _public_names() and missing == []


def test_rendering_is_deterministic_and_machine_free():
    gen = _generator()
    first, second = gen.render(), gen.render()
    assert first == second
    assert " at 0x" not in first and str(DOCS.parent) not in first  # no addresses, no paths of this checkout


def test_check_mode_reports_a_stale_page(tmp_path, monkeypatch, capsys):
    gen = _generator()
    monkeypatch.setattr(gen, "PAGE", tmp_path / "api.md")
    (tmp_path / "api.md").write_text("# old\n")
    assert gen.main(["--check"]) == 1
    assert "python docs/gen_api.py" in capsys.readouterr().err
    assert gen.main([]) == 0 and gen.main(["--check"]) == 0
