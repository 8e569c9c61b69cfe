import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.units import GiB, MiB, format_size, parse_size


@pytest.mark.parametrize("text,expected", [
    ("512M", 512 * MiB), ("2G", 2 * GiB), ("2GiB", 2 * GiB), ("1.5G", int(1.5 * GiB)),
    ("1024", 1024), ("4 G", 4 * GiB), ("10k", 10240), ("1T", 1024 * GiB),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_default_unit_applies_to_bare_numbers():
    assert parse_size("512", default_unit="MiB") == 512 * MiB
    assert parse_size("512K", default_unit="MiB") == 512 * 1024


@pytest.mark.parametrize("text", ["", "abc", "2GB", "-1G", "0", "1.2.3G", "2 Gigs", "G"])
def test_bad_sizes_are_invalid_input(text):
    with pytest.raises(InvalidInput) as err:
        parse_size(text, what="memory")
    assert "memory" in err.value.message and err.value.hint


def test_format_size():
    assert format_size(512 * MiB) == "512MiB"
    assert format_size(int(1.5 * GiB)) == "1.5GiB"
    assert format_size(100) == "100B"
