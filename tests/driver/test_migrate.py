"""Migration pieces the libvirt test driver can show (it cannot migrate): the
snapshot hook, and the flags a migration asks libvirt for."""

import libvirt
import pytest

from vmctl.errors import Conflict
from vmctl.ops.migrate_checks import carry_snapshots
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


def test_a_vm_with_snapshots_is_refused_until_snapshots_can_travel(host):
    dom = domains.define(host, DOMAIN)
    assert carry_snapshots(dom) == 0
    host.conn.lookupByName("web1").snapshotCreateXML("<domainsnapshot><name>s1</name></domainsnapshot>", 0)
    assert snapshot_count(dom) == 1
    with pytest.raises(Conflict, match="1 snapshot") as exc:
        carry_snapshots(dom)
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
