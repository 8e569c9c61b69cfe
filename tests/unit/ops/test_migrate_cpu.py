"""The CPU pre-flight of a migration for a guest that sees its host's CPU as it is
(host-passthrough): there is no model to compare, so the hosts' CPUs are compared, and
anything but the same CPU (or one with more features) is refused before anything moves."""

from __future__ import annotations

import pytest

from vmctl.errors import MigrationFailed
from vmctl.libvirtxml.migration import host_cpu_xml
from vmctl.ops import migrate_checks
from vmctl.ops.migrate_checks import Checks

PASSTHROUGH = """<domain type='kvm'><name>web1</name><os><type arch='x86_64' machine='pc'>hvm</type></os>
<cpu mode='host-passthrough' check='none' migratable='on'/></domain>"""
CAPS = """<capabilities><host><uuid>u</uuid><cpu><arch>x86_64</arch><model>Skylake-Client-IBRS</model>
<vendor>Intel</vendor><feature name='vmx'/></cpu></host></capabilities>"""


class FakeDom:
    def xml(self, inactive: bool = False) -> str:
        return PASSTHROUGH


def checks() -> Checks:
    return Checks(lambda result: None)


def test_the_host_cpu_is_read_from_the_capabilities():
    cpu = host_cpu_xml(CAPS)
    assert cpu is not None and "<model>Skylake-Client-IBRS</model>" in cpu and "vmx" in cpu
    assert host_cpu_xml("<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>") is None


@pytest.mark.parametrize("verdict, passes", [("identical", True), ("superset", True), ("incompatible", False),
                                             ("unknown", False)])
def test_host_passthrough_needs_the_same_cpu(monkeypatch, verdict, passes):
    seen = []
    monkeypatch.setattr(migrate_checks.vmig, "compare_host_cpus", lambda src, dest: seen.append((src, dest)) or (
        verdict, f"the destination's CPU is {verdict}"))
    monkeypatch.setattr(migrate_checks.vmig, "compare_cpu", lambda *a, **k: pytest.fail("no model to compare"))
    found = checks()
    if passes:
        migrate_checks._check_cpu(found, FakeDom(), "src", "dest")
        [result] = found.results
        assert result.ok and result.detail.startswith("host-passthrough CPU: the destination's CPU is " + verdict)
    else:
        with pytest.raises(MigrationFailed, match="host-passthrough") as refused:
            migrate_checks._check_cpu(found, FakeDom(), "src", "dest")
        assert "identical hosts" in refused.value.hint and "nothing was changed" in refused.value.hint
    assert seen == [("src", "dest")]
