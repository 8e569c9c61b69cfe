"""Template pre-flight for parts tied to a host, with literal XML and a HostView standing
in for the host: each class refused with its exact reason and fix, fitted with
--drop-unusable, kept where the host honours it, and refused (saying so) where a fact
about the host cannot be known."""

from pathlib import Path

import pytest

from vmctl.errors import InvalidInput
from vmctl.ops.templates import Template, import_template, load_template, prepare_template
from vmctl.spec.template import HostView

HOST = HostView(local=True, cpus=frozenset({0, 1}), nodes=frozenset({0}), spice_tls=lambda: (False, "off"),
                has_address=lambda a: a == "192.0.2.2",
                listening=lambda kind, target: target in ("127.0.0.1:4555", "/run/up.sock"),
                exists=lambda path: path in ("/run/up.sock", "/run/later.sock"))
REMOTE = HostView(local=False, cpus=frozenset(range(64)), nodes=frozenset({0, 1}),
                  spice_tls=lambda: (None, "this libvirt cannot build a command line"))
FIT_HINT = "; or pass --drop-unusable to fit the template to this host"


def template(body: str, devices: str = "") -> Template:
    xml = (f"<domain type='kvm'><name>t</name><memory>524288</memory><os><type machine='q35'>hvm</type></os>"
           f"{body}<devices><disk type='file' device='disk'><source file='/x.qcow2'/>"
           f"<target dev='vda' bus='virtio'/></disk>{devices}</devices></domain>")
    return Template("t", Path("/t.xml"), "", False, False, xml.encode())


def refusal(tpl: Template, host: HostView = HOST) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        prepare_template(tpl, host=host)
    assert caught.value.message.startswith("template 't' cannot be used for a new VM: ")
    return caught.value


PINNED = template("<vcpu cpuset='0-1,63'>2</vcpu><cputune><vcpupin vcpu='0' cpuset='1'/>"
                  "<vcpupin vcpu='1' cpuset='63'/><emulatorpin cpuset='0'/></cputune>"
                  "<numatune><memory mode='strict' nodeset='1'/></numatune>")


def test_pinning_to_cpus_and_nodes_the_host_lacks_is_refused_with_the_fix():
    error = refusal(PINNED)
    assert error.message.split(": ", 1)[1] == (
        "<vcpu cpuset='0-1,63'>, <vcpupin vcpu='1' cpuset='63'>: pins to CPUs this host does not have "
        "(it has CPUs 0-1); <numatune><memory nodeset='1'>: binds memory to NUMA nodes this host does not have "
        "(it has NUMA nodes 0)")
    assert error.hint == ("pin to CPUs and NUMA nodes the host has (`virsh capabilities`, <topology>), or remove "
                          f"the pinning{FIT_HINT} (that pinning dropped)")


def test_pinning_is_fitted_by_dropping_only_what_the_host_lacks():
    prepared = prepare_template(PINNED, drop=True, host=HOST)
    xml = prepared.xml.decode()
    assert "cpuset=\"0-1,63\"" not in xml and "nodeset" not in xml and "<numatune" not in xml
    assert '<vcpupin vcpu="0" cpuset="1"/>' in xml and '<emulatorpin cpuset="0"/>' in xml  # these fit: kept
    assert [(u.element, u.done) for u in prepared.dropped] == [
        ("<vcpu cpuset='0-1,63'>", "cpuset dropped"), ("<vcpupin vcpu='1' cpuset='63'>", "dropped"),
        ("<numatune><memory nodeset='1'>", "dropped")]
    assert [t.element for t in prepared.facts.ties] == ["<vcpupin vcpu='0' cpuset='1'>", "<emulatorpin cpuset='0'>"]


def test_pinning_that_fits_is_kept_and_unknown_cpus_are_refused_saying_so():
    assert prepare_template(PINNED, host=REMOTE).dropped == ()  # a 64-CPU, 2-node host has them all
    error = refusal(PINNED, HostView(local=False))
    assert "pins to host CPUs, and this host's capabilities do not list its CPUs" in error.message


DISPLAY = template("<vcpu>1</vcpu>", "<graphics type='vnc' autoport='yes' listen='10.1.2.3'>"
                   "<listen type='address' address='10.1.2.3'/></graphics>"
                   "<graphics type='spice' port='5903' tlsPort='5904' autoport='yes' listen='192.0.2.2'>"
                   "<listen type='address' address='192.0.2.2'/><channel name='main' mode='secure'/></graphics>")


def test_a_listen_address_the_host_lacks_and_spice_tls_when_off_are_refused():
    error = refusal(DISPLAY)
    assert error.message.split(": ", 1)[1] == (
        "<graphics type='vnc'> listen 10.1.2.3: listens on 10.1.2.3, an address this host does not have; "
        "<graphics type='spice'> TLS (<channel name='main' mode='secure'>): needs a SPICE TLS port, "
        "and spice_tls is off in the libvirt daemon's qemu.conf")
    assert error.hint.startswith("listen on 127.0.0.1 (virt-viewer and virt-manager reach it over SSH) or 0.0.0.0, "
                                 "or use <listen type='network'>; turn SPICE TLS on in the libvirt daemon's "
                                 "qemu.conf (spice_tls = 1, certificates in spice_tls_x509_cert_dir) and restart it")
    assert error.hint.endswith(f"{FIT_HINT} (graphics on 127.0.0.1, SPICE without TLS)")


def test_display_is_fitted_to_loopback_and_plain_spice():
    xml = prepare_template(DISPLAY, drop=True, host=HOST).xml.decode()
    assert "10.1.2.3" not in xml and 'listen="192.0.2.2"' in xml  # the host's own address is kept
    assert "tlsPort" not in xml and "mode=\"secure\"" not in xml
    assert '<graphics type="vnc" autoport="yes" listen="127.0.0.1">' in xml


def test_display_on_a_remote_host_is_refused_saying_what_cannot_be_seen():
    error = refusal(DISPLAY, REMOTE)
    assert "listens on 10.1.2.3, and vmctl cannot see the addresses of a remote host" in error.message
    assert "listens on 192.0.2.2, and vmctl cannot see the addresses of a remote host" in error.message
    assert ("needs a SPICE TLS port, and the libvirt daemon could not say whether spice_tls is on "
            "(this libvirt cannot build a command line)") in error.message
    on = HostView(local=False, spice_tls=lambda: (True, ""))
    plain = template("<vcpu>1</vcpu>", "<graphics type='spice' autoport='yes' defaultMode='secure' listen='0.0.0.0'/>"
                     "<graphics type='vnc' autoport='yes'><listen type='address' address='::1'/></graphics>")
    assert prepare_template(plain, host=on).dropped == ()  # TLS on, wildcard and loopback: every host has them


CONNECTING = template("<vcpu>1</vcpu>", """
  <serial type='pty'><target port='0'/></serial>
  <serial type='tcp'><source mode='connect' host='10.1.2.3' service='4555'/><target port='1'/></serial>
  <serial type='tcp'><source mode='connect' host='127.0.0.1' service='4555'/><target port='2'/></serial>
  <serial type='tcp'><source mode='connect' host='127.0.0.1' service='4556'/><target port='3'/></serial>
  <channel type='unix'><source mode='connect' path='/run/up.sock'/><target type='virtio' name='a.0'/></channel>
  <channel type='unix'><source mode='connect' path='/run/down.sock'/><target type='virtio' name='b.0'/></channel>
  <channel type='unix'><source mode='connect' path='/run/later.sock'><reconnect enabled='yes' timeout='10'/></source>
    <target type='virtio' name='c.0'/></channel>
  <channel type='unix'><source mode='connect' path='/run/none.sock'><reconnect enabled='yes' timeout='10'/></source>
    <target type='virtio' name='d.0'/></channel>
  <serial type='tcp'><source mode='connect' host='127.0.0.1' service='4557'><reconnect enabled='yes' timeout='10'/>
    </source><target port='4'/></serial>""")


def test_chardevs_connecting_to_an_absent_server_are_refused_with_the_fix():
    error = refusal(CONNECTING)
    assert error.message.split(": ", 1)[1] == (
        "<serial type='tcp'> port 1 (connect to 10.1.2.3:4555): connects at start to a server on another "
        "machine, which vmctl does not probe; <serial type='tcp'> port 3 (connect to 127.0.0.1:4556), "
        "<channel type='unix'> b.0 (connect to /run/down.sock): connects at start to a server that is not listening; "
        "<channel type='unix'> d.0 (connect to /run/none.sock): connects at start to a socket file that does not "
        "exist (libvirt needs it even with <reconnect>)")
    assert error.hint == ("start the server first, or add <reconnect enabled='yes' timeout='10'/> to its <source> "
                          "(QEMU then starts without it and connects when it is up); start the server first (libvirt "
                          "needs the socket file at start even with <reconnect>), or make the VM the server "
                          f"(<source mode='bind'>){FIT_HINT} (those parts left out)")


def test_connecting_chardevs_are_dropped_and_live_servers_kept():
    prepared = prepare_template(CONNECTING, drop=True, host=HOST)
    xml = prepared.xml.decode()
    assert "10.1.2.3" not in xml and "4556" not in xml and "/run/down.sock" not in xml and "none.sock" not in xml
    assert 'service="4555"' in xml and "/run/up.sock" in xml and "/run/later.sock" in xml and "4557" in xml
    remote = refusal(CONNECTING, REMOTE)
    assert remote.message.endswith(": connects at start to a server vmctl cannot see from here (a remote host)")
    assert remote.message.count("(connect to ") == 7  # every connecting one but the reconnecting TCP serial
    assert "4557" not in remote.message  # TCP with reconnect: QEMU starts without the server, on any host


def test_host_ties_and_unusable_parts_are_refused_together():
    both = template("<vcpu cpuset='9'>1</vcpu>", "<disk type='file' device='disk'><source file='/y.qcow2'/>"
                    "<target dev='vdb' bus='virtio'/></disk>")
    error = refusal(both)
    assert "<disk> vdb (/y.qcow2): a second disk" in error.message and "<vcpu cpuset='9'>: pins to" in error.message
    assert error.hint.startswith("remove the elements a new VM cannot use; pin to CPUs")
    assert error.hint.endswith("(those parts left out, that pinning dropped)")
    # Without a host (the host-free cleaning alone) only the unusable parts count, as before
    with pytest.raises(InvalidInput) as caught:
        prepare_template(both)
    assert caught.value.hint == "remove those elements from the template, or pass --drop-unusable to leave them out"


def test_import_refuses_or_fits_for_the_host_it_is_checked_against(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    src = tmp_path / "pinned.xml"
    src.write_bytes(PINNED.xml)
    with pytest.raises(InvalidInput, match="pins to CPUs this host does not have"):
        import_template(src, "pinned", host=HOST)
    assert not (tmp_path / "vmctl" / "templates" / "pinned.xml").exists()
    prepared = import_template(src, "pinned", drop=True, host=HOST)
    stored = load_template("pinned").xml.decode()
    assert "63" not in stored and 'cpuset="1"' in stored
    assert len(prepared.dropped) == 3


def test_the_host_is_asked_only_for_templates_tied_to_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))

    def no_libvirt() -> HostView:
        raise AssertionError("asked the host")

    plain = template("<vcpu>1</vcpu>", "<graphics type='vnc' autoport='yes' listen='127.0.0.1'/>"
                     "<graphics type='spice' autoport='yes'><listen type='address' address='0.0.0.0'/></graphics>"
                     "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/><target port='1'/>"
                     "</serial>")
    assert prepare_template(plain, host=no_libvirt).dropped == ()  # loopback, wildcard, a server: no host asked
    src = tmp_path / "plain.xml"
    src.write_bytes(plain.xml)
    assert import_template(src, "plain", host=no_libvirt).dropped == ()
