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
