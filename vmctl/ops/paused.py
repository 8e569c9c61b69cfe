"""Guests vmctl paused on purpose (group snapshot and group revert), and resuming them
for an operation that died before it could.

An operation records ``paused NAME UUID`` in its intent record before it pauses a
guest (write-ahead); repair hands such an item to :func:`resume_paused`. Only the
same domain (by UUID), still paused the way vmctl paused it (a suspend call:
"user"; a revert to paused: "from-snapshot"), is resumed: a guest the host paused
(an I/O error, a full disk, a watchdog) stays paused for a person to look at.
"""

from __future__ import annotations

from vmctl.errors import NotFound
from vmctl.virt import domains
from vmctl.virt.host import Host

# The pause reasons vmctl's own pauses leave (see vmctl.virt.domains.Domain.pause_reason).
OURS = frozenset({"user", "from-snapshot"})


def resume_paused(host: Host, name: str, uuid: str) -> bool:
    """Resume ``name`` if it is the recorded domain and still paused by vmctl; True if
    it was resumed."""
    try:
        dom = domains.lookup(host, name)
    except NotFound:
        return False
    if uuid and dom.uuid != uuid:
        return False  # a same-named domain made later: not the one vmctl paused
    if dom.pause_reason() not in OURS:
        return False  # running, shut off, or paused by the host for a reason a person must see
    dom.resume()
    return True
