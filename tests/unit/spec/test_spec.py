import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.domain import Accel, DiskSpec, DomainSpec, NicSpec
from vmctl.spec.names import check_name


@pytest.mark.parametrize("name", ["a", "web-1", "db_2.prod", "x" * 63, "0abc"])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "A", "-a", ".a", "a b", "a/b", "../x", "a<b", "a&b", "x" * 64,
                                  "a'b", 'a"b', "a;b", "é", "a-"])
def test_bad_names_rejected(name):
    with pytest.raises(InvalidInput):
        check_name(name)


def test_domain_spec_validates_resources():
    with pytest.raises(InvalidInput, match="too small"):
        DomainSpec(name="a", memory_mib=16)
    with pytest.raises(InvalidInput, match="CPU count"):
        DomainSpec(name="a", vcpus=0)
    with pytest.raises(InvalidInput, match="nested"):
        DomainSpec(name="a", accel=Accel.TCG, nested_feature="vmx")
    with pytest.raises(InvalidInput, match="duplicate"):
        DomainSpec(name="a", disks=(DiskSpec("/a"), DiskSpec("/b")))


def test_nic_and_disk_validation():
    with pytest.raises(InvalidInput):
        NicSpec(kind="user", ssh_port=None)
    with pytest.raises(InvalidInput):
        NicSpec(kind="user", ssh_port=2222, mac="00:11:22:33:44:55")
    with pytest.raises(InvalidInput):
        NicSpec(kind="network", network="bad name")
    with pytest.raises(InvalidInput):
        DiskSpec("/a", format="vmdk")
    with pytest.raises(InvalidInput):
        DiskSpec("/a", target="xyz")
