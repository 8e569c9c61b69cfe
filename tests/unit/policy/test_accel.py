from pathlib import Path

import pytest

from vmctl.local.kvm import probe_host
from vmctl.policy.accel import HostVirt, decide
from vmctl.errors import HostError
from vmctl.spec.domain import Accel


def fake_root(tmp_path: Path, *, flags: str, modules: list[str], nested: str | None = None,
              kvm: bool = True) -> Path:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(f"processor\t: 0\nflags\t\t: fpu sse2 {flags}\n")
    for module in modules:
        (tmp_path / "sys/module" / module / "parameters").mkdir(parents=True)
        if nested is not None and module in ("kvm_intel", "kvm_amd"):
            (tmp_path / "sys/module" / module / "parameters/nested").write_text(nested + "\n")
    if kvm:
        (tmp_path / "dev").mkdir()
        (tmp_path / "dev/kvm").write_text("")
    return tmp_path


def test_pvm_host_with_dev_kvm_falls_back_to_tcg(tmp_path):
    host = probe_host(fake_root(tmp_path, flags="", modules=["kvm", "kvm_pvm"]))
    assert host.kvm_device and host.cpu_flag is None
    decision = decide(host)
    assert decision.accel is Accel.TCG and not decision.kvm_usable
    assert "no vmx/svm" in decision.reason and "kvm_pvm" in decision.reason
    with pytest.raises(HostError, match="KVM requested"):
        decide(host, Accel.KVM)


def test_intel_host_with_nesting(tmp_path):
    host = probe_host(fake_root(tmp_path, flags="vmx", modules=["kvm", "kvm_intel"], nested="Y"))
    decision = decide(host, nested=True)
    assert decision.accel is Accel.KVM and decision.nested_available
    assert decide(host, Accel.TCG).accel is Accel.TCG


def test_amd_host_without_nesting_refuses_nested(tmp_path):
    host = probe_host(fake_root(tmp_path, flags="svm", modules=["kvm", "kvm_amd"], nested="0"))
    assert decide(host).accel is Accel.KVM
    with pytest.raises(HostError, match="nested"):
        decide(host, nested=True)


def test_no_dev_kvm(tmp_path):
    host = probe_host(fake_root(tmp_path, flags="vmx", modules=[], kvm=False))
    decision = decide(host)
    assert decision.accel is Accel.TCG and "/dev/kvm does not exist" in decision.reason


def test_flag_without_module():
    host = HostVirt(kvm_device=True, kvm_device_usable=True, cpu_flag="vmx", kvm_modules=("kvm",), nested=False)
    assert "neither kvm_intel nor kvm_amd" in decide(host).reason
