import pytest

from vmctl.errors import InvalidInput
from vmctl.spec.migration import JobStats, MigrationEvent, MigrationRequest
from vmctl.spec.uris import check_transport, display_uri, redact_uri, transport_of


def test_uris_never_show_a_password():
    assert redact_uri("qemu+ssh://bob:s3cret@hv1:2222/system?keyfile=/k") == "qemu+ssh://bob:***@hv1:2222/system?keyfile=/k"
    assert redact_uri("qemu+ssh://bob@hv1/system") == "qemu+ssh://bob@hv1/system"
    assert "s3cret" not in display_uri("qemu+tcp://u:s3cret@hv1/system")
    assert display_uri("qemu+ssh://root@10.99.1.2/system?keyfile=/x&no_tty=1") == "qemu+ssh://root@10.99.1.2/system"


@pytest.mark.parametrize("uri,transport", [("qemu+ssh://h/system", "ssh"), ("qemu+tcp://h/system", "tcp"),
                                           ("qemu://h/system", "tls"), ("qemu+tls://h/system", "tls"),
                                           ("qemu:///system", "unix"), ("qemu+unix:///system", "unix")])
def test_transport_of(uri, transport):
    assert transport_of(uri) == transport


def test_plain_tcp_needs_the_explicit_flag():
    with pytest.raises(InvalidInput, match="plain-text") as exc:
        check_transport("qemu+tcp://u:pw@hv1/system", insecure=False)
    assert "pw" not in exc.value.message and "--insecure-transport" in exc.value.hint
    check_transport("qemu+tcp://hv1/system", insecure=True)
    check_transport("qemu+ssh://hv1/system", insecure=False)
    with pytest.raises(InvalidInput):
        check_transport("not a uri", insecure=True)


@pytest.mark.parametrize("options", [{"on_timeout": "later"}, {"max_downtime_ms": 0}, {"bandwidth_mib": 0},
                                     {"timeout": -1}])
def test_requests_are_validated(options):
    with pytest.raises(InvalidInput):
        MigrationRequest("web1", "qemu+ssh://hv2/system", **options)
    with pytest.raises(InvalidInput):
        MigrationRequest("Bad Name", "qemu+ssh://hv2/system")


def test_job_stats_from_libvirt_and_as_an_event():
    raw = {"type": 2, "time_elapsed": 903, "data_processed": 96313412, "data_remaining": 5189632,
           "data_total": 555032576, "memory_bps": 206395297, "memory_dirty_rate": 10, "memory_page_size": 4096,
           "memory_iteration": 3, "disk_bps": 7}
    stats = JobStats.from_libvirt(raw)
    assert stats.active and stats.data_total == 555032576 and stats.dirty_rate_bps == 40960
    assert stats.speed_bps == 206395297 and stats.downtime_ms is None
    assert not JobStats.from_libvirt({"type": 0}).active
    done = JobStats.from_libvirt({"type": 3, "downtime": 74, "data_processed": 5}, completed=True)
    assert not done.active and done.downtime_ms == 74
    event = MigrationEvent("progress", elapsed=1.23456, stats=stats).to_dict()
    assert event["event"] == "progress" and event["elapsed"] == 1.235 and event["data_remaining"] == 5189632
    assert "active" not in event
    assert MigrationEvent("check", "cpu", False, "no").to_dict() == {"event": "check", "elapsed": 0.0, "name": "cpu",
                                                                      "ok": False, "detail": "no"}


def test_uris_are_shown_as_typed():
    assert display_uri("qemu:///system") == "qemu:///system"
    assert display_uri("qemu:///session") == "qemu:///session"
    assert display_uri("test:///default") == "test:///default"
    assert display_uri("qemu+ssh://root@hv1/system#x") == "qemu+ssh://root@hv1/system"
