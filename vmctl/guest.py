"""Reaching a guest: where its SSH is, readiness, and SSH sessions with the
pinned host key. paramiko stays inside vmctl.ssh, imported lazily here."""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import GuestError, InvalidInput, Timeout
from vmctl.keys import ensure_user_key
from vmctl.libvirtxml.domain import DomainFacts, parse_domain
from vmctl.readiness import Readiness, wait_ready
from vmctl.spec import VmMeta, check_name
from vmctl.virt import domains
from vmctl.virt.domains import Domain
from vmctl.vms import Vms

if TYPE_CHECKING:
    from vmctl.ssh import JumpHost, SshSession, SshTarget

BOOT_FINISHED = ["sh", "-c", "test -e /run/vmctl-boot-finished || test -e /var/lib/cloud/instance/boot-finished"]
TCG_READY_TIMEOUT = 180.0
KVM_READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    via: str  # "loopback forward", "ssh jump via HOST", "dhcp lease", "guest agent"
    sock_factory: Callable[[], socket.socket] | None = None  # how to open a connection, if not plain TCP

    def connect(self, timeout: float) -> socket.socket:
        from vmctl.sshsocket import open_socket

        return open_socket(self.host, self.port, timeout, self.sock_factory)


class GuestAccess:
    """SSH access to the VMs of one host."""

    def __init__(self, vms: Vms, *, insecure: bool = False, key_path: Path | None = None,
                 netns: str | None = None) -> None:
        self.vms = vms
        self.insecure = insecure
        self.key_path = key_path
        self.netns = netns  # the network namespace the host's guest networks live in (labs)

    def _domain(self, name: str) -> Domain:
        return domains.lookup(self.vms.host, check_name(name))

    def endpoint(self, name: str) -> Endpoint | None:
        """Where the guest's SSH answers, re-read from libvirt each time (so it is
        right again after a reboot, revert or migration)."""
        dom = self._domain(name)
        return self._endpoint(name, dom, parse_domain(dom.xml()))

    def _endpoint(self, name: str, dom: Domain, facts: DomainFacts) -> Endpoint | None:
        port = facts.meta.ssh_port
        if port:
            if self.vms.host.is_local:
                return Endpoint("127.0.0.1", port, "loopback forward")
            jump = jump_host_of(self.vms.host.uri)
            if jump is None:
                raise GuestError(f"{name} forwards SSH to 127.0.0.1:{port} on {self.vms.host.uri}, which only an "
                                 "SSH jump through that host can reach", hint="connect with qemu+ssh://USER@HOST/system")
            from vmctl.ssh import jump_socket

            return Endpoint("127.0.0.1", port, f"ssh jump via {jump.host}",
                            functools.partial(jump_socket, jump, "127.0.0.1", port, 10.0))
        for source, via in (("lease", "dhcp lease"), ("agent", "guest agent")):
            addresses = dom.ipv4_addresses(source)
            if addresses:
                factory = None
                if self.netns:
                    from vmctl.netns import connect_in_netns

                    factory = functools.partial(connect_in_netns, self.netns, addresses[0], 22, 10.0)
                return Endpoint(addresses[0], 22, via, factory)
        return None

    def target(self, name: str, endpoint: Endpoint) -> "SshTarget":
        return self._target(name, parse_domain(self._domain(name).xml()).meta, endpoint)

    def _target(self, name: str, meta: VmMeta, endpoint: Endpoint) -> "SshTarget":
        from vmctl.ssh import SshTarget

        key = self.key_path or (Path(meta.ssh_key_path) if meta.ssh_key_path else ensure_user_key())
        if not meta.ssh_host_key and not self.insecure:
            raise GuestError(f"vmctl has no pinned SSH host key for {name}",
                             hint="it was not created by vmctl; use --insecure to accept the key it presents")
        return SshTarget(host=endpoint.host, port=endpoint.port, user=meta.ssh_user, key_path=key,
                         host_key=meta.ssh_host_key or None, insecure=self.insecure,
                         sock_factory=endpoint.sock_factory)

    def session(self, name: str) -> "SshSession":
        """A connected session, now (no waiting): errors name the stage that failed."""
        from vmctl.ssh import SshSession

        dom = self._domain(name)  # one lookup and one XML read serve endpoint and target
        if not dom.is_active():
            raise GuestError(f"{name} is not running", hint=f"start it with `vmctl start {name}`")
        facts = parse_domain(dom.xml())
        endpoint = self._endpoint(name, dom, facts)
        if endpoint is None:
            raise GuestError(f"the address of {name} is not known yet", hint=f"try `vmctl wait {name} --for ssh`")
        session = SshSession(self._target(name, facts.meta, endpoint))
        session.connect()
        return session

    def wait(self, name: str, *, until: str = "ssh", timeout: float | None = None) -> Readiness:
        if until not in ("ssh", "boot"):
            raise InvalidInput(f"invalid --for {until!r}", hint="use --for ssh or --for boot")
        dom = self._domain(name)
        if timeout is None:
            timeout = TCG_READY_TIMEOUT if parse_domain(dom.xml()).accel == "tcg" else KVM_READY_TIMEOUT
        return wait_ready(_Probe(self, name, dom), until=until, timeout=timeout, name=name)


class _Probe:
    def __init__(self, access: GuestAccess, name: str, dom: Domain) -> None:
        self.access, self.name, self.dom = access, name, dom

    def running(self) -> bool:
        return self.dom.is_active()

    def endpoint(self) -> Endpoint | None:
        return self.access.endpoint(self.name)

    def port_open(self, endpoint: Endpoint) -> bool:
        try:
            endpoint.connect(2.0).close()
            return True
        except (GuestError, Timeout):
            return False

    def banner(self, endpoint: Endpoint) -> bool:
        from vmctl.sshsocket import probe_banner

        try:
            probe_banner(endpoint.host, endpoint.port, timeout=2.0, sock_factory=endpoint.sock_factory)
            return True
        except (GuestError, Timeout):
            return False

    def authenticate(self, endpoint: Endpoint) -> "SshSession":
        from vmctl.ssh import SshSession

        session = SshSession(self.access.target(self.name, endpoint), connect_timeout=3.0,
                             banner_timeout=5.0, auth_timeout=5.0)
        try:
            session.connect()
        except Timeout as exc:
            session.close()
            raise GuestError(exc.message, exc.hint) from None
        except BaseException:
            session.close()
            raise
        return session

    def boot_finished(self, session: "SshSession") -> bool:
        return session.run(BOOT_FINISHED, timeout=10).exit_status == 0


def jump_host_of(uri: str) -> "JumpHost | None":
    """The SSH jump host a ``qemu+ssh://[user@]host[:port]/...`` URI names (with its
    ``keyfile`` and ``known_hosts`` parameters, as libvirt's libssh transport reads
    them), or None for other transports."""
    from urllib.parse import parse_qs, urlsplit

    from vmctl.ssh import JumpHost

    parts = urlsplit(uri)
    if parts.scheme.partition("+")[2] != "ssh" or not parts.hostname:
        return None
    query = parse_qs(parts.query)
    keyfile = query.get("keyfile", [None])[0]
    known_hosts = query.get("known_hosts", [None])[0]
    return JumpHost(parts.hostname, parts.port or 22, parts.username, Path(keyfile) if keyfile else None,
                    Path(known_hosts) if known_hosts else None)
