"""Claiming a dead operation's record before repairing it, so that two repairs (two
vmctl commands, or two hosts that share a pool) never work on one record at once.

Claims are volumes ``TARGET.intent-claim-N.json`` holding the claimant as an owner,
made in one libvirt call like records (:func:`vmctl.ops.safety.intents.create_record_volume`):
making claim N is atomic, so exactly one claimant wins it. To claim, a repair takes the
next number after the highest claim there is, and only if that claim's owner is dead
(its repair was killed) or there is none. A claim's heartbeat runs while its repair
does, so a long repair on another machine is not taken for dead. Having won, it reads the record again and
goes on only if it is still the same dead operation's (compare); when done it drops
the record if it still holds that operation (compare-and-delete), then its claim and
every older one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vmctl.errors import Busy, Conflict, NotFound, OperationFailed
from vmctl.ops.safety.intents import (Intent, create_record_volume, is_alive, new_record, read_record,
                                      read_volume_record)
from vmctl.spec.intent import IntentRecord
from vmctl.spec.volumes import claim_number, claim_volume
from vmctl.virt.storage import Pool


def claim_numbers(pool: Pool, target: str) -> list[int]:
    return sorted(n for name in pool.volume_names() if (n := claim_number(target, name)) is not None)


@contextmanager
def claimed(pool: Pool, record: IntentRecord) -> Iterator[IntentRecord | None]:
    """Hold the claim on ``record`` (a dead operation's) while the block repairs it.
    Yields the record as it is now, or None when there is nothing to repair any more
    (released, repaired by someone else, or its owner turned out alive). Busy while
    another live repair holds it."""
    target = record.target
    pool.refresh()  # claims another host made must be seen: the listing is a cache
    numbers = claim_numbers(pool, target)
    top = numbers[-1] if numbers else 0
    if top:
        holder = read_volume_record(pool, claim_volume(target, top), target)  # Busy while it is being written
        if holder is not None and is_alive(holder):
            raise Busy(f"{target} is being repaired by {holder.owner.describe()}",
                       hint="wait for that repair to finish")
    mine = top + 1
    claim = new_record("claim", target)
    try:
        create_record_volume(pool, claim_volume(target, mine), claim)
    except Conflict:
        raise Busy(f"{target} is being repaired by another vmctl just now", hint="try again") from None
    except OperationFailed as exc:
        if "exists" not in exc.message:
            raise
        raise Busy(f"{target} is being repaired by another vmctl just now", hint="try again") from None
    beat = Intent(pool, claim, claim_volume(target, mine))  # a long repair (a migration's settle) stays alive
    beat.start_heartbeat()
    try:
        if not pool.has_streams:  # libvirt's test driver keeps no contents: the claim alone excludes
            yield record
            return
        current = read_record(pool, target)
        same = current is not None and current.same_record(record) and not is_alive(current)
        yield current if same else None
    finally:
        beat.stop_heartbeat()
        for number in range(mine, 0, -1):
            try:
                pool.delete_volume(claim_volume(target, number))
            except (NotFound, OperationFailed):
                pass
