"""Port forwards of a VM's user-mode NIC: list, add, remove (`vmctl port ...`).

A forward lives in the definition (the ``hostfwd=`` options of vmctl's ``-netdev
user``) and, while the VM runs, in QEMU too: added or removed there through the
monitor (``hostfwd_add``/``hostfwd_remove``) first, then in the definition, so a
failure leaves both as they were. The SSH forward vmctl made is listed, never removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.errors import Conflict, InvalidInput, NotFound, OperationFailed
from vmctl.libvirtxml.domain import is_ssh_hostfwd
from vmctl.libvirtxml.edits import user_netdev_forwards, with_forwards
from vmctl.ops.safety.operation import Operation
from vmctl.spec.names import check_name
from vmctl.spec.ports import PortForward, forward_of_option
from vmctl.virt import domains
from vmctl.virt.domains import Domain
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool

NETDEV = "vmctlnet0"


@dataclass(frozen=True)
class ForwardInfo:
    forward: PortForward
    ssh: bool  # the SSH forward vmctl made (not removable)

    def to_dict(self) -> dict[str, object]:
        return {**self.forward.to_dict(), "ssh": self.ssh}


@dataclass(frozen=True)
class PortChange:
    vm: str
    forward: PortForward
    action: str  # "added" or "removed"
    live: bool   # applied to the running QEMU too (else: from the next start)

    def to_dict(self) -> dict[str, object]:
        return {"vm": self.vm, "action": self.action, "live": self.live, **self.forward.to_dict()}


def list_forwards(host: Host, name: str) -> list[ForwardInfo]:
    return _forwards(domains.lookup(host, check_name(name)))


def _forwards(dom: Domain) -> list[ForwardInfo]:
    found = []
    for option in user_netdev_forwards(dom.xml(inactive=True)):
        forward = forward_of_option(option)
        if forward is not None:
            found.append(ForwardInfo(forward, is_ssh_hostfwd(option)))
    return found


def add_forward(host: Host, pool: Pool, name: str, forward: PortForward, *, expose: bool = False) -> PortChange:
    """Forward ``forward.host_addr:host_port`` to the guest's port. A non-loopback host
    address (reachable from other machines) only with ``expose``."""
    if not forward.loopback and not expose:
        raise InvalidInput(f"{forward.host_addr} is not a loopback address: the guest's port would be open to "
                           "other machines", hint="leave the address out (127.0.0.1), or add --expose")
    if forward.proto == "tcp" and forward.guest_port == 22:
        raise InvalidInput("the guest's SSH port is forwarded already", hint=f"see `vmctl port ls {name}`, or "
                           f"`vmctl ssh-config {name}` for ssh, scp and rsync")
    with Operation(host, pool, "port", check_name(name)):
        dom = domains.lookup(host, name)
        current = _forwards(dom)
        if not current:
            raise InvalidInput(f"{name} has no vmctl user-mode NIC", hint="a VM on a libvirt network is reached at "
                               "its own address (`vmctl info`): no forward is needed")
        _check_free(host, forward, {name: [f.forward for f in current]})
        running = dom.is_active()
        if running:
            reply = dom.monitor(f"hostfwd_add {NETDEV} {forward.option.removeprefix('hostfwd=')}").strip()
            if reply:
                raise OperationFailed(f"QEMU refused the forward {forward}: {reply}",
                                      hint="is the host port taken? see `ss -ltn`")
        try:
            domains.define(host, with_forwards(dom.xml(inactive=True),
                                               [f.forward.option for f in current] + [forward.option]))
        except BaseException:
            if running:
                _remove_live(dom, forward)
            raise
        return PortChange(name, forward, "added", running)


def remove_forward(host: Host, pool: Pool, name: str, host_addr: str, host_port: int, proto: str) -> PortChange:
    """Remove the forward of ``host_addr:host_port/proto`` (never the SSH forward)."""
    with Operation(host, pool, "port", check_name(name)):
        dom = domains.lookup(host, name)
        current = _forwards(dom)
        match = [f for f in current if (f.forward.proto, f.forward.host_addr, f.forward.host_port)
                 == (proto, host_addr, host_port)]
        if not match:
            raise NotFound(f"{name} has no forward of {host_addr}:{host_port}/{proto}",
                           hint=f"see `vmctl port ls {name}`")
        if match[0].ssh:
            raise Conflict(f"{host_addr}:{host_port} is {name}'s SSH forward, which vmctl needs",
                           hint="it moves by itself when its port is taken at start")
        running = dom.is_active()
        if running:
            _remove_live(dom, match[0].forward)
        domains.define(host, with_forwards(dom.xml(inactive=True),
                                           [f.forward.option for f in current if f is not match[0]]))
        return PortChange(name, match[0].forward, "removed", running)


def _remove_live(dom: Domain, forward: PortForward) -> None:
    reply = dom.monitor(f"hostfwd_remove {NETDEV} {forward.proto}:{forward.host_addr}:{forward.host_port}").strip()
    if reply and "removed" not in reply.lower():
        raise OperationFailed(f"QEMU could not remove the forward {forward}: {reply}", hint="retry, or restart the VM")


def _check_free(host: Host, forward: PortForward, known: dict[str, list[PortForward]]) -> None:
    """No VM on this host forwards that host port (running or not; ``known``: forwards
    already read, by VM), and, on this machine, nothing listens on it now."""
    from vmctl.local.net import port_is_free

    for record in domains.list_all(host):
        if record.name not in known:
            known[record.name] = [f for o in user_netdev_forwards(record.xml) if (f := forward_of_option(o))]
    for vm, forwards in known.items():
        for other in forwards:
            if other.proto == forward.proto and other.host_port == forward.host_port \
                    and (other.host_addr == forward.host_addr or "0.0.0.0" in (other.host_addr, forward.host_addr)):
                raise Conflict(f"{vm} forwards {other.host_addr}:{other.host_port}/{other.proto} already",
                               hint="pick another host port")
    if host.is_local and forward.proto == "tcp" and not port_is_free(forward.host_port, forward.host_addr):
        raise Conflict(f"{forward.host_addr}:{forward.host_port} is in use on this host", hint="pick another host "
                       "port (see `ss -ltn`)")
