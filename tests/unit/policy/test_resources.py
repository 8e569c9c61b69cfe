import pytest

from vmctl.errors import InsufficientResources
from vmctl.policy.resources import check_fits

HOST = dict(available_mib=20_000, total_mib=24_000, host_cpus=2)


def test_a_vm_that_fits_passes():
    check_fits(memory_mib=512, vcpus=2, **HOST)


@pytest.mark.parametrize("memory,vcpus,words", [
    (1024 * 1024, 1, ["1024.0 GiB", "23.4 GiB in all"]),
    (22_000, 1, ["21.5 GiB", "19.5 GiB available"]),
    (512, 64, ["64 vCPUs", "2 CPUs"]),
])
def test_what_does_not_fit_is_refused_with_the_numbers(memory, vcpus, words):
    with pytest.raises(InsufficientResources) as info:
        check_fits(memory_mib=memory, vcpus=vcpus, **HOST)
    assert all(w in info.value.message for w in words), info.value.message
    assert info.value.hint


def test_space_refused_with_both_numbers():
    from vmctl.policy.resources import check_space

    check_space(needed=10 << 20, available=10 << 20, where="pool p", what="x", hint="h")  # exactly fits
    with pytest.raises(InsufficientResources) as caught:
        check_space(needed=(3 << 30) + (1 << 29), available=700 << 20, where="pool vmctl",
                    what="a full clone of web1", hint="free space in the pool")
    assert caught.value.message == ("not enough space in pool vmctl for a full clone of web1: needs 3.5GiB, "
                                    "700MiB free")
    assert caught.value.hint == "free space in the pool"
    with pytest.raises(InsufficientResources, match="needs 2KiB, 512B free"):
        check_space(needed=2048, available=512, where="/mnt", what="a backup", hint="h")


class FakePool:
    name, free = "vmctl", 0

    def refresh(self) -> None:
        pass

    def available(self) -> int:
        return self.free


@pytest.mark.parametrize("running, full, needed", [
    (False, False, 2 * 5),          # linked, shut off: SRC's own layers
    (False, True, 2 * 100),         # full: each disk flattened
    (True, False, 2 * 100 + 2 * 5),  # running: staged whole first, then the layers
    (True, True, 2 * 100 * 2),
])
def test_clone_needs_what_it_will_write(monkeypatch, running, full, needed):
    from vmctl.ops import clone

    monkeypatch.setattr(clone.qemuimg, "measure", lambda path: 100)
    monkeypatch.setattr(clone.qemuimg, "allocated", lambda path: 5)
    pool = FakePool()
    pool.free = needed
    clone._check_space(pool, "web1", {"vda": "/p/a", "vdb": "/p/b"}, running=running, full=full)
    pool.free = needed - 1
    with pytest.raises(InsufficientResources, match=f"needs {needed}B, {needed - 1}B free"):
        clone._check_space(pool, "web1", {"vda": "/p/a", "vdb": "/p/b"}, running=running, full=full)
