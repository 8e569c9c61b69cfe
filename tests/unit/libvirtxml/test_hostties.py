"""Parts of a template tied to one host, read from literal XML and fitted: pinning,
graphics listen addresses, SPICE TLS, chardevs that connect at start."""

from lxml import etree

from vmctl.libvirtxml.capabilities import parse_capabilities
from vmctl.libvirtxml.hostties import spice_tls_probe_xml
from vmctl.libvirtxml.templatefacts import drop_unusable, template_facts
from vmctl.spec.template import Unusable


def domain(body: str, devices: str = "") -> str:
    return (f"<domain type='kvm'><name>t</name><memory>524288</memory><os><type machine='q35'>hvm</type></os>"
            f"{body}<devices>{devices}</devices></domain>")


PINNED = domain("<vcpu placement='static' cpuset='60-63'>2</vcpu><iothreads>1</iothreads>"
                "<cputune><shares>2048</shares><vcpupin vcpu='0' cpuset='62'/><vcpupin vcpu='1' cpuset='1'/>"
                "<emulatorpin cpuset='60-61'/><iothreadpin iothread='1' cpuset='63'/></cputune>"
                "<numatune><memory mode='strict' nodeset='1'/><memnode cellid='0' mode='strict' nodeset='0'/>"
                "</numatune>")


def fitted(xml: str, *paths: str, fits: tuple[str, ...] = ()) -> etree._Element:
    facts = template_facts(xml)
    chosen = tuple(Unusable(t.element, "r", t.path, fit=t.fit) for t in facts.ties
                   if t.path in paths or t.fit in fits)
    return etree.fromstring(drop_unusable(xml, chosen))


def test_pinning_is_read_per_element():
    ties = template_facts(PINNED).ties
    assert [(t.kind, t.element, t.value, t.path, t.fit) for t in ties] == [
        ("cpus", "<vcpu cpuset='60-63'>", "60-63", "vcpu", "unpin-attr"),
        ("cpus", "<vcpupin vcpu='0' cpuset='62'>", "62", "cputune/vcpupin[1]", "unpin"),
        ("cpus", "<vcpupin vcpu='1' cpuset='1'>", "1", "cputune/vcpupin[2]", "unpin"),
        ("cpus", "<emulatorpin cpuset='60-61'>", "60-61", "cputune/emulatorpin", "unpin"),
        ("cpus", "<iothreadpin iothread='1' cpuset='63'>", "63", "cputune/iothreadpin", "unpin"),
        ("nodes", "<numatune><memory nodeset='1'>", "1", "numatune/memory", "unpin"),
        ("nodes", "<numatune><memnode cellid='0' nodeset='0'>", "0", "numatune/memnode", "unpin"),
    ]


def test_fitting_pinning_drops_only_what_it_is_told_and_tidies_up():
    root = fitted(PINNED, "vcpu", "cputune/vcpupin[1]", "cputune/emulatorpin", "cputune/iothreadpin")
    assert root.find("vcpu").attrib == {"placement": "static"} and root.findtext("vcpu") == "2"
    assert [p.get("cpuset") for p in root.findall("cputune/*[@cpuset]")] == ["1"]  # vCPU 1 on CPU 1 kept
    assert root.findtext("cputune/shares") == "2048"
    assert root.find("numatune") is not None
    everything = fitted(PINNED, fits=("unpin", "unpin-attr"))
    assert everything.find("numatune") is None and everything.find("vcpu").get("cpuset") is None
    assert [el.tag for el in everything.find("cputune")] == ["shares"]  # <cputune> keeps what is not pinning
    only_pins = fitted(domain("<vcpu>1</vcpu><cputune><vcpupin vcpu='0' cpuset='9'/></cputune>"), fits=("unpin",))
    assert only_pins.find("cputune") is None  # left empty: gone


VNC_SPICE = domain("<vcpu>1</vcpu>", """
  <graphics type='vnc' port='5902' autoport='no' listen='10.1.2.3'>
    <listen type='address' address='10.1.2.3'/></graphics>
  <graphics type='spice' port='5903' tlsPort='5904' autoport='no' listen='0.0.0.0'>
    <listen type='address' address='0.0.0.0'/><channel name='main' mode='secure'/>
    <channel name='display' mode='insecure'/></graphics>
  <graphics type='spice' autoport='yes' defaultMode='secure'><listen type='network' network='lan'/></graphics>
  <graphics type='vnc' autoport='yes'><listen type='socket'/></graphics>""")


def test_listen_addresses_and_spice_tls_are_read_after_cleaning():
    from vmctl.libvirtxml.clone import clean_template

    facts = template_facts(clean_template(VNC_SPICE))
    assert [(t.kind, t.element, t.value, t.path, t.fit) for t in facts.ties] == [
        ("listen", "<graphics type='vnc'> listen 10.1.2.3", "10.1.2.3", "devices/graphics[1]", "loopback"),
        # tlsPort itself is the source VM's port (cleaned to autoport); the secure channel still needs TLS
        ("spice-tls", "<graphics type='spice'> TLS (<channel name='main' mode='secure'>)", "",
         "devices/graphics[2]", "no-tls"),
        ("spice-tls", "<graphics type='spice'> TLS (defaultMode='secure')", "", "devices/graphics[3]", "no-tls"),
    ]
    # 0.0.0.0 (and loopback) is on every host: no tie
    assert [(n.kind, n.name, n.element) for n in facts.needs if n.kind == "network"] == [
        ("network", "lan", "<graphics><listen type='network'>")]


def test_listen_becomes_loopback_and_spice_loses_tls_when_fitted():
    root = fitted(VNC_SPICE, fits=("loopback", "no-tls"))
    vnc, spice, spice_net, _socket = root.findall("devices/graphics")
    assert vnc.get("listen") == "127.0.0.1" and vnc.find("listen").get("address") == "127.0.0.1"
    assert vnc.get("port") == "5902"  # only the listen address changed (cleaning makes ports automatic)
    assert spice.get("tlsPort") is None and spice.get("listen") == "0.0.0.0"  # the wildcard is no tie: kept
    assert [(c.get("name"), c.get("mode")) for c in spice.findall("channel")] == [("display", "insecure")]
    assert spice_net.get("defaultMode") is None and spice_net.find("listen").get("network") == "lan"


CHARDEVS = domain("<vcpu>1</vcpu>", """
  <serial type='pty'><target port='0'/></serial>
  <serial type='tcp'><source mode='connect' host='10.1.2.3' service='4555'/><protocol type='raw'/>
    <target port='1'/></serial>
  <serial type='tcp'><source mode='bind' host='127.0.0.1' service='4556'/><target port='2'/></serial>
  <serial type='tcp'><source mode='connect' host='127.0.0.1' service='4557'><reconnect enabled='yes' timeout='5'/>
    </source><target port='3'/></serial>
  <channel type='unix'><source mode='connect' path='/run/agent.sock'/><target type='virtio' name='org.x.0'/></channel>
  <channel type='unix'><source mode='bind' path='/run/server.sock'/><target type='virtio' name='org.x.1'/></channel>
  <channel type='unix'><source mode='connect' path='/run/later.sock'><reconnect enabled='yes'/></source>
    <target type='virtio' name='org.x.2'/></channel>
  <console type='tcp'><source host='::1' service='4558'/><target type='virtio' port='1'/></console>
  <parallel type='udp'><source mode='bind' host='127.0.0.1' service='4559'/>
    <source mode='connect' host='10.1.2.3' service='4560'/><target port='0'/></parallel>""")


def test_chardevs_that_connect_at_start_are_read():
    ties = template_facts(CHARDEVS).ties
    assert [(t.kind, t.element, t.value, t.path, t.fit) for t in ties] == [
        ("connect", "<serial type='tcp'> port 1 (connect to 10.1.2.3:4555)", "tcp:10.1.2.3:4555",
         "devices/serial[2]", "drop"),
        ("connect", "<console type='tcp'> (connect to [::1]:4558)", "tcp:[::1]:4558", "devices/console", "drop"),
        ("connect", "<channel type='unix'> org.x.0 (connect to /run/agent.sock)", "unix:/run/agent.sock",
         "devices/channel[1]", "drop"),
        ("connect", "<channel type='unix'> org.x.2 (connect to /run/later.sock)", "unix-file:/run/later.sock",
         "devices/channel[3]", "drop"),  # reconnects, but libvirt labels the socket file at start
    ]  # bind mode is a server; TCP with reconnect starts without the server; udp needs none


def test_connecting_chardevs_are_dropped_when_fitted():
    root = fitted(CHARDEVS, fits=("drop",))
    assert [s.find("target").get("port") for s in root.findall("devices/serial")] == ["0", "2", "3"]
    assert [c.find("target").get("name") for c in root.findall("devices/channel")] == ["org.x.1"]  # x.0, x.2 gone
    assert root.find("devices/console") is None and root.find("devices/parallel") is not None


def test_host_cpus_and_nodes_come_from_the_capabilities_topology():
    caps = ("<capabilities><host><uuid>u</uuid><topology><cells num='2'>"
            "<cell id='0'><cpus num='2'><cpu id='0'/><cpu id='1'/></cpus></cell>"
            "<cell id='1'><cpus num='2'><cpu id='2'/><cpu id='5'/></cpus></cell></cells></topology></host>"
            "</capabilities>")
    facts = parse_capabilities(caps)
    assert facts.host_cpus == frozenset({0, 1, 2, 5}) and facts.host_nodes == frozenset({0, 1})
    bare = parse_capabilities("<capabilities><host><uuid>u</uuid></host></capabilities>")
    assert bare.host_cpus is None and bare.host_nodes is None  # unknown, not "none"


def test_the_spice_tls_probe_asks_for_an_explicit_tls_port():
    root = etree.fromstring(spice_tls_probe_xml())
    graphics = root.find("devices/graphics")
    assert (graphics.get("type"), graphics.get("tlsPort"), graphics.get("autoport")) == ("spice", "5901", "no")
    assert graphics.find("listen").get("address") == "127.0.0.1"
