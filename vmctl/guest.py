"""Reaching a guest: where its SSH is, readiness, and SSH sessions with the
pinned host key. paramiko stays inside vmctl.ssh, imported lazily here."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import GuestError, InvalidInput, Timeout
from vmctl.keys import ensure_user_key
from vmctl.libvirtxml.domain import parse_domain
from vmctl.readiness import Readiness, wait_ready
from vmctl.spec import check_name
from vmctl.virt import domains
from vmctl.virt.domains import Domain
from vmctl.vms import Vms

if TYPE_CHECKING:
    from vmctl.ssh import SshSession, SshTarget

BOOT_FINISHED = ["sh", "-c", "test -e /run/vmctl-boot-finished || test -e /var/lib/cloud/instance/boot-finished"]
TCG_READY_TIMEOUT = 180.0
KVM_READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    via: str  # "loopback forward", "dhcp lease", "guest agent"


class GuestAccess:
    """SSH access to the VMs of one host."""

    def __init__(self, vms: Vms, *, insecure: bool = False, key_path: Path | None = None) -> None:
        self.vms = vms
        self.insecure = insecure
        self.key_path = key_path

    def _domain(self, name: str) -> Domain:
        return domains.lookup(self.vms.host, check_name(name))

    def endpoint(self, name: str) -> Endpoint | None:
        """Where the guest's SSH answers, re-read from libvirt each time (so it is
        right again after a reboot, revert or migration)."""
        dom = self._domain(name)
        facts = parse_domain(dom.xml())
        if facts.meta.ssh_port:
            if not self.vms.host.is_local:
                raise GuestError(f"{name} forwards SSH to 127.0.0.1:{facts.meta.ssh_port} on the remote host "
                                 f"{self.vms.host.uri}, which vmctl cannot reach from here",
                                 hint="run vmctl on that host, or attach the VM to a libvirt network")
            return Endpoint("127.0.0.1", facts.meta.ssh_port, "loopback forward")
        for source, via in (("lease", "dhcp lease"), ("agent", "guest agent")):
            addresses = dom.ipv4_addresses(source)
            if addresses:
                return Endpoint(addresses[0], 22, via)
        return None

    def target(self, name: str, endpoint: Endpoint) -> "SshTarget":
        from vmctl.ssh import SshTarget

        meta = parse_domain(self._domain(name).xml()).meta
        key = self.key_path or (Path(meta.ssh_key_path) if meta.ssh_key_path else ensure_user_key())
        if not meta.ssh_host_key and not self.insecure:
            raise GuestError(f"vmctl has no pinned SSH host key for {name}",
                             hint="it was not created by vmctl; use --insecure to accept the key it presents")
        return SshTarget(host=endpoint.host, port=endpoint.port, user=meta.ssh_user, key_path=key,
                         host_key=meta.ssh_host_key or None, insecure=self.insecure)

    def session(self, name: str) -> "SshSession":
        """A connected session, now (no waiting): errors name the stage that failed."""
        from vmctl.ssh import SshSession

        if not self._domain(name).is_active():
            raise GuestError(f"{name} is not running", hint=f"start it with `vmctl start {name}`")
        endpoint = self.endpoint(name)
        if endpoint is None:
            raise GuestError(f"the address of {name} is not known yet", hint=f"try `vmctl wait {name} --for ssh`")
        session = SshSession(self.target(name, endpoint))
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
            with socket.create_connection((endpoint.host, endpoint.port), timeout=1.0):
                return True
        except OSError:
            return False

    def banner(self, endpoint: Endpoint) -> bool:
        from vmctl.ssh import probe_banner

        try:
            probe_banner(endpoint.host, endpoint.port, timeout=2.0)
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
