"""Endpoint path (b), "libvirt network: the address from DHCP leases", end to end.

In a lab host (its own network namespace and libvirtd) a NAT network on a
subnet that exists only in that namespace; a tiny VM attached to it; vmctl finds
the guest's address in the DHCP leases and reaches its SSH through sockets
opened inside the namespace. Nothing is sent outside namespaces this test made;
in the root namespace the lab's subnet is an unreachable route.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
import time

from vmctl.api import Vmctl
from vmctl.testing.lab import LabHost
from vmctl.libvirtxml.network import nat_network_xml
from vmctl.virt import domains, networks
from vmctl.virt.host import Host

NET = "vmctl-lab-nat"
BRIDGE = "virbr-lab"


def root_state(api: Vmctl, marker: str) -> tuple[list[str], list[str]]:
    """Root-host domains and pool volumes whose name carries ``marker``."""
    api.pool.refresh()
    doms = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True,
                          text=True, timeout=30, check=True).stdout.split()
    return [d for d in doms if marker in d], [v.name for v in api.pool.volumes() if marker in v.name]


class LeaseWatch:
    """Polls the lease address on its own connection while create() waits for boot."""

    def __init__(self, uri: str, name: str) -> None:
        self.uri, self.name = uri, name
        self.seen: float | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "LeaseWatch":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(10)

    def _poll(self) -> None:
        deadline = time.monotonic() + 300
        with Host(self.uri) as host:
            while not self.done.is_set() and time.monotonic() < deadline:
                if domains.exists(host, self.name) and domains.lookup(host, self.name).ipv4_addresses("lease"):
                    self.seen = time.monotonic()
                    return
                self.done.wait(0.2)


def image_volumes(api: Vmctl) -> list[tuple[str, int]]:
    """The root pool's image volumes (other engineers' tests add and remove VM volumes meanwhile)."""
    api.pool.refresh()
    return sorted((v.name, v.capacity) for v in api.pool.volumes() if ".base." in v.name)


def test_guest_reached_through_its_dhcp_lease_inside_a_lab(api: Vmctl, monkeypatch):
    name = f"lab-{secrets.token_hex(3)}"
    plain = socket.create_connection

    def root_namespace_connect(address, *args, **kwargs):  # the lab's subnet is never dialled from here
        assert not str(address[0]).startswith("10.98."), f"plain TCP to {address} from the root namespace"
        return plain(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", root_namespace_connect)
    root_images = image_volumes(api)
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    lab = LabHost(sshd=True)
    with lab:
        timings["lab start"] = lab.timings["start"]
        prefix = lab.private_prefix
        with lab.api() as v:
            net = networks.ensure_network(v.host, NET, nat_network_xml(
                NET, BRIDGE, f"{prefix}.1", "255.255.255.0", f"{prefix}.100", f"{prefix}.199"))
            assert net.active and net.bridge == BRIDGE
            t = time.monotonic()
            image, _ = v.build_tiny()  # cached build; importing copies files into the lab pool
            timings["tiny import"] = time.monotonic() - t
            assert image.path.startswith(str(lab.pool_dir))

            t = time.monotonic()
            with LeaseWatch(lab.uri, name) as watch:
                vm = v.create(name, network=NET, wait_boot=True)
                timings["create + boot"] = time.monotonic() - t
            if watch.seen is not None:
                timings["lease seen (since create)"] = watch.seen - t
            assert vm.ssh_port is None
            assert f"<source network='{NET}'" in domains.lookup(v.host, name).xml().replace('"', "'")

            guest = v.guest()
            deadline = time.monotonic() + 60
            while (endpoint := guest.endpoint(name)) is None and time.monotonic() < deadline:
                time.sleep(0.2)
            timings["endpoint after boot"] = time.monotonic() - t - timings["create + boot"]
            assert endpoint is not None, "no DHCP lease within 60 s"
            assert endpoint.via == f"dhcp lease, ssh jump via {lab.address}" and endpoint.port == 22
            assert endpoint.host.startswith(f"{prefix}.")
            assert 100 <= int(endpoint.host.rsplit(".", 1)[1]) <= 199

            ready = guest.wait(name, until="ssh", timeout=120)
            ready.session.close()
            timings.update({f"ready: {k}": s for k, s in ready.stages.items()})
            assert "address known" in ready.stages and ready.endpoint.host == endpoint.host
            assert ready.endpoint.via == f"dhcp lease, ssh jump via {lab.address}"
            # list and info show the guest's real address and the host it runs on, not a loopback port
            info = v.info(name)
            assert info.addresses == [endpoint.host] and info.host
            assert info.uri == v.host.uri.partition("?")[0] and info.uri.startswith("qemu+ssh://")
            assert info.ssh_endpoint == f"{endpoint.host}:22 on {info.host}"
            [listed] = [vm for vm in v.list() if vm.name == name]
            assert listed.addresses == [endpoint.host] and listed.ssh_endpoint == info.ssh_endpoint

            # The SSH session goes through the lab host's sshd (a jump), as for any remote host.
            target = guest.target(name, endpoint)
            assert target.sock_factory is not None
            jump, dest_host, dest_port = target.sock_factory.args[:3]
            assert (jump.host, dest_host, dest_port) == (lab.address, endpoint.host, 22)
            out: list[bytes] = []
            t = time.monotonic()
            assert v.exec(name, ["hostname"], out=out.append) == 0
            timings["exec hostname"] = time.monotonic() - t
            assert b"".join(out).decode().strip() == name
            with v.session(name) as session:
                ip = session.run(["sh", "-c", "ip -4 -o addr show dev eth0"], timeout=10).stdout.decode()
            assert f"{endpoint.host}/24" in ip

            v.delete(name)
            assert not domains.exists(v.host, name)
            networks.remove_network(v.host, NET)
            assert NET not in [n.name for n in networks.list_networks(v.host)]
    timings["lab stop"] = lab.timings["stop"]
    timings["whole test"] = time.monotonic() - t0
    print("timings:", {k: round(s, 2) for k, s in timings.items()})

    assert lab.netns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                           timeout=10).stdout
    assert root_state(api, name) == ([], [])
    assert image_volumes(api) == root_images
