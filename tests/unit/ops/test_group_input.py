"""A group snapshot's member list is checked before any host is asked (exit 3, invalid input)."""

from __future__ import annotations

import pytest

from vmctl.errors import EXIT_CODES, InvalidInput
from vmctl.ops.groups import create_group


@pytest.mark.parametrize("names, message", [(["web1", "web1"], "web1 more than once"),
                                            (["web1", "db", "db", "web1"], "db, web1 more than once"),
                                            (["web1"], "at least two VMs")])
def test_bad_member_lists_are_invalid_input(names, message):
    with pytest.raises(InvalidInput) as caught:
        create_group(None, None, "g1", names)  # type: ignore[arg-type] - refused before the host is used
    assert message in caught.value.message and caught.value.hint
    assert EXIT_CODES[InvalidInput] == 3
