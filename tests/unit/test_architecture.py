"""The layering rules, checked on the source (every import, lazy ones inside functions too).

    cli -> api -> ops -> guest, provision -> ssh, virt, libvirtxml, local -> policy -> spec -> errors

Each package may import only the packages listed for it below; libvirt, lxml and
paramiko each have one home; the test-support package is for tests and the CLI's
``lab`` command only.
"""

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "vmctl"

BASE = {"errors", "signals", "progress"}  # progress: what long operations report (a dataclass)
ALLOWED: dict[str, set[str]] = {
    "spec": BASE | {"spec"},
    "policy": BASE | {"spec", "policy"},
    "local": BASE | {"spec", "policy", "local"},
    "libvirtxml": BASE | {"spec", "libvirtxml"},
    "virt": BASE | {"spec", "libvirtxml", "virt"},
    "ssh": BASE | {"ssh"},
    "provision": BASE | {"provision"},
    "tinyguest": BASE | {"tinyguest"},
    "tinydisk": BASE | {"tinyguest", "tinydisk"},
    "guest": BASE | {"spec", "policy", "local", "libvirtxml", "virt", "ssh", "guest"},
    "ops": BASE | {"spec", "policy", "local", "libvirtxml", "virt", "ssh", "guest", "provision", "tinyguest", "tinydisk",
                   "ops", "__init__", "__version__"},  # backups record vmctl's version
    "api": BASE | {"spec", "policy", "local", "libvirtxml", "virt", "ssh", "guest", "provision", "tinyguest",
                   "tinydisk", "ops"},
    "cli": BASE | {"api", "cli", "__init__", "__version__"},
    "testing": BASE | {"spec", "policy", "local", "libvirtxml", "virt", "ssh", "guest", "ops", "api", "testing"},
    "pytest_plugin": BASE | {"api", "pytest_plugin"},  # a user of the API, like the CLI
    "__init__": {"api"},  # vmctl.checkpoint(), imported lazily
    "__main__": {"cli"},
    "errors": set(),
    "signals": {"errors"},
    "progress": set(),
}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            if node.module == "vmctl":  # from vmctl import x
                names.update(f"vmctl.{alias.name}" for alias in node.names)
    return names


def modules() -> dict[str, set[str]]:
    return {str(p.relative_to(PKG)): imports_of(p) for p in PKG.rglob("*.py")}


def top(module_path: str) -> str:
    return module_path.split("/")[0].removesuffix(".py")


def modules_importing(prefix: str) -> set[str]:
    return {m for m, names in modules().items() if any(n == prefix or n.startswith(prefix + ".") for n in names)}


def test_every_package_has_a_rule():
    assert {top(m) for m in modules()} <= set(ALLOWED)


# The CLI's `lab` command is the one runtime module that may use the test-support package.
EXCEPTIONS = {"cli/commands/lab.py": {"testing"}}


def test_packages_import_only_downwards():
    bad = {}
    for module, names in modules().items():
        used = {n.split(".")[1] for n in names if n.startswith("vmctl.")}
        if "vmctl" in names:
            used.add("__init__")
        if extra := used - ALLOWED[top(module)] - {top(module)} - EXCEPTIONS.get(module, set()):
            bad[module] = sorted(extra)
    assert not bad, f"imports against the layering: {bad}"


def test_only_virt_imports_libvirt():
    assert {m for m in modules_importing("libvirt") if not m.startswith("virt/")} == set()


def test_only_libvirtxml_imports_lxml():
    assert {m for m in modules_importing("lxml") if not m.startswith("libvirtxml/")} == set()


def test_only_session_and_tunnel_import_paramiko():
    runtime = {m for m in modules_importing("paramiko") if not m.startswith("testing/")}
    assert runtime == {"ssh/session.py", "ssh/tunnel.py"}


def test_cli_uses_only_the_api_layer():
    lower = ("vmctl.virt", "vmctl.libvirtxml", "vmctl.ops", "vmctl.ssh", "vmctl.guest", "libvirt", "lxml", "paramiko")
    for path in (PKG / "cli").rglob("*.py"):
        bad = {n for n in imports_of(path) if n.startswith(lower)}
        assert not bad, f"{path.name} imports {bad}"


def test_test_support_is_imported_only_by_the_lab_command():
    users = {m for m in modules_importing("vmctl.testing") if not m.startswith("testing/")}
    assert users <= {"cli/commands/lab.py"}


def test_nothing_knows_lab_namespaces_outside_test_support():
    for path in PKG.rglob("*.py"):
        if not str(path.relative_to(PKG)).startswith("testing/"):
            text = path.read_text()
            assert "VMCTL_NETNS" not in text and "netns" not in text, path


def test_modules_stay_small():
    big = {str(p.relative_to(PKG)): n for p in PKG.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not big


def test_templates_are_package_data_apart_from_modules():
    pyproject = (PKG.parent / "pyproject.toml").read_text()
    assert '"templates" = "vmctl/data/templates"' in pyproject
    assert not (PKG / "templates.py").exists() and not (PKG / "data" / "__init__.py").exists()
