"""Intent record volumes: two copies, the newest whole one wins; torn copies and
format-1 records read as they should."""

import json

from vmctl.ops.safety.intents import SLOT, decode, encode
from vmctl.spec.intent import IntentRecord, Item, Owner

OWNER = Owner(machine="m", boot="b", pid=1, start=2, hostname="h", user="u", pidns="pid:[1]")


def record(seq: int, *items: str) -> IntentRecord:
    return IntentRecord(op="create", target="web1", owner=OWNER, started=1.0, heartbeat=2.0,
                        items=tuple(Item("volume", i) for i in items), token="abc", seq=seq)


def test_the_newest_whole_copy_wins():
    raw = encode(record(2, "a", "b")) + encode(record(1, "a"))
    assert decode(raw).items == (Item("volume", "a"), Item("volume", "b"))


def test_a_copy_torn_mid_write_leaves_the_other_one():
    torn = encode(record(3, "a", "b", "c"))[:40] + b"\0" * (SLOT - 40)
    raw = encode(record(2, "a", "b")) + torn
    assert decode(raw).seq == 2


def test_nothing_readable_is_none():
    assert decode(b"\0" * (2 * SLOT)) is None
    assert decode(b"") is None


def test_a_format_1_record_reads_as_its_first_copy():
    legacy = {"op": "delete", "target": "web1", "started": 1.0, "heartbeat": 2.0, "items": [], "data": {},
              "format": 1, "owner": {"machine": "m", "boot": "b", "pid": 1, "start": 2, "hostname": "h", "user": "u"}}
    got = decode(json.dumps(legacy).encode().ljust(SLOT, b" "))
    assert got.op == "delete" and got.owner.pidns == "" and got.token == ""


def test_same_record_compares_identity_not_contents():
    assert record(1).same_record(record(5, "x"))
    assert not record(1).same_record(IntentRecord(**{**record(1).__dict__, "token": "other"}))


def test_repair_order_undoes_newest_first_and_finishes_in_order():
    undo = record(1, "disk", "seed")
    assert [i.name for i in undo.repair_order] == ["seed", "disk"]
    finish = IntentRecord(op="delete", target="web1", owner=OWNER, started=1.0, heartbeat=2.0,
                          items=(Item("domain", "web1"), Item("volume", "disk")))
    assert [i.kind for i in finish.repair_order] == ["domain", "volume"]
