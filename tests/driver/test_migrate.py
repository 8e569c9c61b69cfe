"""Migration pieces the libvirt test driver can show (it cannot migrate): the
snapshot hook, and the flags a migration asks libvirt for."""

import libvirt
import pytest

from vmctl.errors import Conflict
from vmctl.ops.carry import check_can_travel
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.migrate import MigrationFlags, snapshot_count

DOMAIN = """<domain type='test'><name>web1</name><memory>65536</memory>
<os><type arch='i686'>hvm</type></os></domain>"""


@pytest.fixture
def host(tmp_path):
    node = tmp_path / "node.xml"
    node.write_text("<node/>")
    with Host(f"test://{node}") as h:
        yield h


def test_snapshots_travel_over_shared_storage_not_with_copy_storage(host):
    dom = domains.define(host, DOMAIN)
    assert check_can_travel(dom, copy=False) == 0 == check_can_travel(dom, copy=True)
    host.conn.lookupByName("web1").snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    assert snapshot_count(dom) == 1
    assert check_can_travel(dom, copy=False) == 1
    with pytest.raises(Conflict, match="1 internal snapshot") as exc:
        check_can_travel(dom, copy=True)
    assert "nothing was changed" in exc.value.hint


def test_flags():
    value = MigrationFlags().value()
    for flag in ("LIVE", "PERSIST_DEST", "UNDEFINE_SOURCE", "ABORT_ON_ERROR"):
        assert value & getattr(libvirt, f"VIR_MIGRATE_{flag}")
    for flag in ("NON_SHARED_INC", "NON_SHARED_DISK", "UNSAFE", "TLS", "POSTCOPY", "TUNNELLED", "OFFLINE"):
        assert not value & getattr(libvirt, f"VIR_MIGRATE_{flag}")
    other = MigrationFlags(copy_storage=True, unsafe_shared=True, tls=True, postcopy=True, keep_source=True).value()
    assert other & libvirt.VIR_MIGRATE_NON_SHARED_INC and other & libvirt.VIR_MIGRATE_TLS
    assert other & libvirt.VIR_MIGRATE_POSTCOPY and other & libvirt.VIR_MIGRATE_UNSAFE
    assert not other & libvirt.VIR_MIGRATE_UNDEFINE_SOURCE and other & libvirt.VIR_MIGRATE_PERSIST_DEST
