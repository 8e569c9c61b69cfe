"""The layering rules, checked on the source: who may import libvirt, lxml, paramiko."""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "vmctl"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def modules_importing(prefix: str) -> set[str]:
    return {
        str(path.relative_to(PKG))
        for path in PKG.rglob("*.py")
        if any(name == prefix or name.startswith(prefix + ".") for name in imports_of(path))
    }


def test_only_virt_imports_libvirt():
    assert {m for m in modules_importing("libvirt") if not m.startswith("virt/")} == set()


def test_only_libvirtxml_imports_lxml():
    assert {m for m in modules_importing("lxml") if not m.startswith("libvirtxml/")} == set()


def test_at_most_one_module_imports_paramiko():
    assert len(modules_importing("paramiko")) <= 1


def test_cli_uses_only_the_api_layer():
    lower = ("vmctl.virt", "vmctl.libvirtxml", "libvirt", "lxml", "paramiko")
    for path in (PKG / "cli").glob("*.py"):
        bad = {n for n in imports_of(path) if n.startswith(lower)}
        assert not bad, f"{path.name} imports {bad}"


def test_modules_stay_small():
    big = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not big
