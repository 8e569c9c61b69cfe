import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_pytest_plugin_is_registered_and_installable_as_an_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"vmctl": "vmctl.pytest_plugin"}
    assert any(req.startswith("pytest") for req in project["optional-dependencies"]["pytest"])
    import vmctl.pytest_plugin as plugin

    for fixture in ("vmctl_host", "vmctl_vm_factory", "vmctl_vm", "vmctl_clean_vm"):
        assert hasattr(plugin, fixture)
