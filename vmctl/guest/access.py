"""SSH access to the guests of one libvirt host: endpoint, pinned target, session, wait.

paramiko stays inside vmctl.ssh.session, imported lazily here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import GuestError, InvalidInput, Timeout
from vmctl.guest.endpoint import Endpoint, guest_endpoint
from vmctl.guest.readiness import Readiness, wait_ready
from vmctl.libvirtxml.facts import DomainFacts, parse_domain
from vmctl.local.hostspeed import measured_slowdown
from vmctl.policy.timeouts import accel_of_domain_type, ready_timeout
from vmctl.spec.domain import VmMeta
from vmctl.spec.names import check_name
from vmctl.ssh.keys import ensure_user_key
from vmctl.virt import domains
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host

if TYPE_CHECKING:
    from vmctl.ssh.session import SshSession, SshTarget

BOOT_FINISHED = ["sh", "-c", "test -e /run/vmctl-boot-finished || test -e /var/lib/cloud/instance/boot-finished"]


class GuestAccess:
    """SSH access to the VMs of one host."""

    def __init__(self, host: Host, *, insecure: bool = False, key_path: Path | None = None,
                 on_trusted: Callable[[str, VmMeta], object] | None = None) -> None:
        self.host = host
        self.insecure = insecure
        self.key_path = key_path
        # Called after a session authenticated against the pinned host key: the guest has
        # booted and taken its key (vmctl then drops the private half it still keeps).
        self.on_trusted = on_trusted

    def _domain(self, name: str) -> Domain:
        return domains.lookup(self.host, check_name(name))

    def endpoint(self, name: str) -> Endpoint | None:
        """Where the guest's SSH answers, re-read from libvirt each time (so it is
        right again after a reboot, revert or migration)."""
        dom = self._domain(name)
        return self._endpoint(name, dom, parse_domain(dom.xml()))

    def _endpoint(self, name: str, dom: Domain, facts: DomainFacts) -> Endpoint | None:
        return guest_endpoint(name, self.host.uri, is_local=self.host.is_local, forward_port=facts.meta.ssh_port,
                              addresses=dom.ipv4_addresses)

    def meta(self, name: str) -> VmMeta:
        return parse_domain(self._domain(name).xml()).meta

    def target(self, name: str, endpoint: Endpoint) -> "SshTarget":
        return self._target(name, parse_domain(self._domain(name).xml()).meta, endpoint)

    def _target(self, name: str, meta: VmMeta, endpoint: Endpoint) -> "SshTarget":
        from vmctl.ssh.session import SshTarget

        key = self.key_path or (Path(meta.ssh_key_path) if meta.ssh_key_path else ensure_user_key())
        if not meta.ssh_host_key and not self.insecure:
            raise GuestError(f"vmctl has no pinned SSH host key for {name}",
                             hint="it was not created by vmctl; use --insecure to accept the key it presents")
        return SshTarget(host=endpoint.host, port=endpoint.port, user=meta.ssh_user, key_path=key,
                         host_key=meta.ssh_host_key or None, insecure=self.insecure,
                         sock_factory=endpoint.sock_factory)

    def session(self, name: str) -> "SshSession":
        """A connected session, now (no waiting): errors name the stage that failed."""
        from vmctl.ssh.session import SshSession

        dom = self._domain(name)  # one lookup and one XML read serve endpoint and target
        if not dom.is_active():
            raise GuestError(f"{name} is not running", hint=f"start it with `vmctl start {name}`")
        facts = parse_domain(dom.xml())
        endpoint = self._endpoint(name, dom, facts)
        if endpoint is None:
            raise GuestError(f"the address of {name} is not known yet", hint=f"try `vmctl wait {name} --for ssh`")
        session = SshSession(self._target(name, facts.meta, endpoint))
        session.connect()
        if self.on_trusted is not None and facts.meta.ssh_host_key:
            self.on_trusted(name, facts.meta)
        return session

    def wait(self, name: str, *, until: str = "ssh", timeout: float | None = None,
             on_stage: Callable[[str, float], object] | None = None) -> Readiness:
        if until not in ("ssh", "boot"):
            raise InvalidInput(f"invalid --for {until!r}", hint="use --for ssh or --for boot")
        dom = self._domain(name)
        if timeout is None:
            accel = accel_of_domain_type(parse_domain(dom.xml()).domain_type)
            timeout = ready_timeout(accel, measured_slowdown(accel.value) if self.host.is_local else None)
        return wait_ready(_Probe(self, name, dom), until=until, timeout=timeout, name=name, on_stage=on_stage)


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
        from vmctl.ssh.probe import probe_banner

        try:
            probe_banner(endpoint.host, endpoint.port, timeout=2.0, sock_factory=endpoint.sock_factory)
            return True
        except (GuestError, Timeout):
            return False

    def authenticate(self, endpoint: Endpoint) -> "SshSession":
        from vmctl.ssh.session import SshSession

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
