"""The private link between a lab's hosts: a bridge in a namespace of its own, and
one veth pair per host (``link0`` inside the host, 10.97.N.K/24).

Migration streams (QEMU to QEMU) travel here; nothing in the root namespace has an
address on it, and while the lab lives the root namespace holds an ``unreachable``
route for its /24, so no packet for it can ever leave the machine.

:func:`cut` is the fault a test injects: every packet on a host's ``link0`` is
dropped (netem ``loss 100%`` where the kernel has netem, else an iptables DROP of
everything in and out of ``link0``, in the host's namespace only).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vmctl.errors import OperationFailed
from vmctl.testing.lab.commands import run

LINK_IFACE = "link0"
BRIDGE = "br0"


@dataclass(frozen=True)
class Link:
    netns: str   # the bridge's namespace
    index: int   # 10.97.<index>.0/24

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"10.97.{self.index}.0/24")

    def address(self, number: int) -> str:
        """Host ``number`` (1, 2, ...) on the link."""
        return f"10.97.{self.index}.{number}"


def create(link: Link) -> None:
    """The bridge's namespace, the bridge, and the root namespace's guard route."""
    run(["ip", "netns", "add", link.netns])
    try:
        inside = ["ip", "-n", link.netns]
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0"])
        run([*inside, "link", "set", BRIDGE, "up"])
        run(["ip", "route", "add", "unreachable", str(link.subnet)])
    except BaseException:
        remove(link)
        raise


def attach(link: Link, host_netns: str, number: int) -> str:
    """A veth pair from the bridge into ``host_netns`` (``link0``, address ``number``);
    returns the host's link address."""
    port = f"lk{number}"
    address = link.address(number)
    run(["ip", "-n", link.netns, "link", "add", port, "type", "veth", "peer", "name", LINK_IFACE,
         "netns", host_netns])
    run(["ip", "-n", link.netns, "link", "set", port, "master", BRIDGE, "up"])
    run(["ip", "-n", host_netns, "addr", "add", f"{address}/24", "dev", LINK_IFACE])
    run(["ip", "-n", host_netns, "link", "set", LINK_IFACE, "up"])
    return address


def remove(link: Link) -> list[str]:
    """The namespace (with the bridge and every veth end: the hosts' ``link0`` go with
    them) and the guard route; what is gone already is fine. Returns problems."""
    problems = []
    for argv in (["ip", "netns", "del", link.netns], ["ip", "route", "del", "unreachable", str(link.subnet)]):
        proc = run(argv, check=False)
        text = (proc.stderr or "").strip()
        if proc.returncode != 0 and not any(s in text for s in ("No such", "Cannot find", "does not exist")):
            problems.append(f"`{' '.join(argv)}`: {text}")
    return problems


def _iptables(host_netns: str, action: str) -> None:
    for chain, direction in (("INPUT", "-i"), ("OUTPUT", "-o")):
        run(["ip", "netns", "exec", host_netns, "iptables", action, chain, direction, LINK_IFACE, "-j", "DROP"])


def cut(host_netns: str) -> str:
    """Drop every packet on the host's link (both directions); returns the method."""
    proc = run(["ip", "netns", "exec", host_netns, "tc", "qdisc", "add", "dev", LINK_IFACE, "root", "netem",
                "loss", "100%"], check=False)
    if proc.returncode == 0:
        return "netem"
    if "unknown" not in proc.stderr.lower():
        raise OperationFailed(f"cannot cut the link of {host_netns}: {proc.stderr.strip()}",
                              hint="the lab needs iproute2's tc (.ci/setup)")
    _iptables(host_netns, "-I")  # this kernel has no netem ("Specified qdisc kind is unknown")
    return "iptables"


def mend(host_netns: str, method: str) -> None:
    """Undo :func:`cut`."""
    if method == "netem":
        run(["ip", "netns", "exec", host_netns, "tc", "qdisc", "del", "dev", LINK_IFACE, "root"])
    else:
        _iptables(host_netns, "-D")
