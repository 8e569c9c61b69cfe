"""Placement (vmctl.policy.placement): filters, weighers, reasons, pure."""

from __future__ import annotations

import pytest

from vmctl.errors import EXIT_CODES, InsufficientResources, InvalidInput, exit_code_for
from vmctl.policy.placement import HostCpu, HostFacts, NoHostFits, PlacementRequest, after_placing, place

GIB = 1 << 30
EPYC = HostCpu("x86_64", "EPYC", "AMD", frozenset({"sse4.2", "avx"}))


def host(name: str, free: int = 4096, pool: int | None = 50 * GIB, **kw) -> HostFacts:
    return HostFacts(name, free_memory_mib=free, pool_free_bytes=pool, cpu=kw.pop("cpu", EPYC), cpus=kw.pop("cpus", 8),
                     **kw)


def reasons(placement_or_error) -> dict[str, str]:
    return {v.host: v.reason for v in placement_or_error.verdicts}


def test_spread_picks_the_most_memory_left_and_pack_the_least_that_fits():
    hosts = [host("a", 2048), host("b", 8192), host("c", 1024), host("d", 300)]
    req = PlacementRequest(memory_mib=512)
    spread = place(hosts, req)
    assert spread.host == "b" and spread.weigher == "spread"
    assert "most memory free after placing (7680 MiB) of 3 fitting host(s)" in spread.reason
    pack = place(hosts, req, "pack")
    assert pack.host == "c" and "least memory free after placing (512 MiB)" in pack.reason
    assert reasons(pack)["d"] == "needs 512 MiB memory, 300 MiB free"
    assert reasons(pack)["a"].startswith("fits: 1536 MiB memory free after, 50GiB pool free")


def test_ties_go_to_the_first_name_whatever_the_input_order():
    hosts = [host("lab3"), host("lab2"), host("lab1", error="connection refused")]
    chosen = place(hosts, PlacementRequest(memory_mib=256))
    assert chosen.host == "lab2"
    assert [v.host for v in chosen.verdicts] == ["lab1", "lab2", "lab3"]
    assert reasons(chosen)["lab1"] == "unreachable: connection refused"


def test_every_filter_names_its_reason():
    other_cpu = HostCpu("x86_64", "Skylake-Server", "Intel", frozenset({"sse4.2", "avx"}))
    fewer = HostCpu("x86_64", "EPYC", "AMD", frozenset({"sse4.2"}))
    hosts = [host("down", error="no answer within 30 s"), host("self"), host("drained", drained=True),
             host("nolabel", labels=(("zone", "b"),)), host("intel", cpu=other_cpu, labels=(("zone", "a"),)),
             host("old", cpu=fewer, labels=(("zone", "a"),)), host("arm", cpu=HostCpu("aarch64"), labels=(("zone", "a"),)),
             host("small", cpus=1, labels=(("zone", "a"),)), host("full", free=100, labels=(("zone", "a"),)),
             host("nospace", pool=GIB, labels=(("zone", "a"),)), host("ok", labels=(("zone", "a"),))]
    req = PlacementRequest(memory_mib=512, disk_bytes=2 * GIB, cpus=2, labels=(("zone", "a"),), arch="x86_64",
                           passthrough_cpu=EPYC, exclude=("self",))
    chosen = place(hosts, req)
    assert chosen.host == "ok"
    assert reasons(chosen) == {
        "down": "unreachable: no answer within 30 s", "self": "excluded (the VM's own host)", "drained": "drained",
        "nolabel": "lacks label zone=a",
        "intel": "host-passthrough guest on AMD EPYC x86_64, this host has Intel Skylake-Server x86_64",
        "old": "host-passthrough guest: this CPU lacks avx",
        "arm": "CPU architecture aarch64, the guest needs x86_64",
        "small": "needs 2 vCPUs, the host has 1 CPUs",
        "full": "needs 512 MiB memory, 100 MiB free",
        "nospace": "needs 2GiB in the pool, 1GiB free",
        "ok": "fits: 3584 MiB memory free after, 50GiB pool free"}


def test_a_guest_with_a_named_cpu_model_goes_to_any_cpu_of_its_arch_and_a_host_without_pool_fits():
    intel = HostCpu("x86_64", "Skylake-Server", "Intel")
    chosen = place([host("new", pool=None, cpu=intel)], PlacementRequest(memory_mib=512, disk_bytes=GIB, arch="x86_64"))
    assert chosen.host == "new" and "pool made on first use" in chosen.reason + reasons(chosen)["new"]


def test_no_host_fits_is_a_resources_refusal_naming_each_host():
    with pytest.raises(NoHostFits) as caught:
        place([host("a", drained=True), host("b", free=10)], PlacementRequest(memory_mib=512))
    error = caught.value
    assert isinstance(error, InsufficientResources) and exit_code_for(error) == EXIT_CODES[InsufficientResources] == 6
    assert error.message == "no host fits: a: drained; b: needs 512 MiB memory, 10 MiB free"
    assert "undrain" in error.hint
    assert [v.fits for v in error.verdicts] == [False, False]
    with pytest.raises(NoHostFits, match="the inventory is empty"):
        place([], PlacementRequest(memory_mib=1))


def test_an_unknown_weigher_is_invalid_input():
    with pytest.raises(InvalidInput, match="unknown placement weigher 'random'"):
        place([host("a")], PlacementRequest(memory_mib=1), "random")


def test_placing_in_a_row_sees_the_earlier_vms():
    hosts = [host("lab2", 4096), host("lab3", 4096)]
    req = PlacementRequest(memory_mib=1024, disk_bytes=GIB)
    first = place(hosts, req)
    assert first.host == "lab2"
    hosts = after_placing(hosts, first.host, req)
    assert [(h.free_memory_mib, h.pool_free_bytes) for h in hosts] == [(3072, 49 * GIB), (4096, 50 * GIB)]
    assert place(hosts, req).host == "lab3"  # spread: the two VMs end up on two hosts
    assert place(hosts, req, "pack").host == "lab2"  # pack: both on one
    assert to_dict_shape(first)


def to_dict_shape(placement) -> bool:
    d = placement.to_dict()
    return d["host"] == "lab2" and d["weigher"] == "spread" and [h["host"] for h in d["hosts"]] == ["lab2", "lab3"]
