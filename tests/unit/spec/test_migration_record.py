"""The migration's intent record as a typed spec: both hosts by UUID, a round trip
through the record's data, refusals for what an older vmctl (or a forger) wrote."""

import json

import pytest

from vmctl.spec.migration_record import DATA_KEY, HostRef, MigrationSpec

SPEC = MigrationSpec(uuid="d0", source=HostRef("u-b", "qemu+ssh://root@b/system"),
                     destination=HostRef("u-a", "qemu+ssh://root@a/system"), pool="shared", live=True,
                     storage="shared", keep_source=False, volumes=("mk-vda.qcow2", "mk-cidata.iso"))


def test_round_trip_through_the_record_data():
    data = SPEC.to_data()
    assert list(data) == [DATA_KEY] and isinstance(data[DATA_KEY], str)
    assert MigrationSpec.from_data(data) == SPEC
    noted = SPEC.with_note(postcopy=True, snapshots="mk.snapshots.json")
    back = MigrationSpec.from_data(noted.to_data())
    assert back.postcopy and back.snapshots == "mk.snapshots.json" and back.source.uuid == "u-b"
    assert SPEC.host("source").uri.endswith("@b/system") and SPEC.host("destination").uuid == "u-a"


@pytest.mark.parametrize("data", [
    {"peer": "qemu+ssh://a/system", "role": "source", "uuid": "d0", "mode": "live", "storage": "shared",
     "keep_source": "0", "volumes": ""},                           # an older vmctl's dict of strings
    {DATA_KEY: "not json"},
    {DATA_KEY: json.dumps({"format": 99})},
    {DATA_KEY: json.dumps({**json.loads(SPEC.to_data()[DATA_KEY]), "storage": "nfs"})},
    {DATA_KEY: json.dumps({**json.loads(SPEC.to_data()[DATA_KEY]), "volumes": "a,b"})},
    {DATA_KEY: json.dumps({**json.loads(SPEC.to_data()[DATA_KEY]), "source": "b"})},
])
def test_unreadable_specs_are_refused(data):
    with pytest.raises(ValueError):
        MigrationSpec.from_data(data)
