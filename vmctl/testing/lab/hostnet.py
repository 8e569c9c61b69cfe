"""The lab host's network: a namespace, a veth pair to the root namespace, a claimed index.

The root end of the veth pair is ``vmctl-lab<n>``: creating it is what claims
index ``n`` (the kernel refuses a second interface of that name). Lab ``n`` owns
10.99.n.0/24 (root side .1, lab side .2 on ``eth0``) and 10.98.n.0/24 for
libvirt networks inside the lab. In the root namespace the
latter is an ``unreachable`` route while the lab exists, so nothing in the root
namespace can ever send a packet for it out of the machine by mistake.
"""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InsufficientResources, OperationFailed
from vmctl.testing.lab.commands import run

LAB_IFACE = "eth0"


@dataclass(frozen=True)
class LabNet:
    index: int
    netns: str
    veth: str  # root-namespace end; the lab end is eth0 inside the namespace

    @property
    def root_address(self) -> str:
        return f"10.99.{self.index}.1"

    @property
    def lab_address(self) -> str:
        return f"10.99.{self.index}.2"

    @property
    def private_subnet(self) -> ipaddress.IPv4Network:
        """For libvirt networks inside the lab (exists only in its namespace)."""
        return ipaddress.IPv4Network(f"10.98.{self.index}.0/24")


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the root namespace has an address or a route in."""
    used: list[ipaddress.IPv4Network] = []
    for iface in json.loads(run(["ip", "-j", "-4", "addr", "show"]).stdout or "[]"):
        for a in iface.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{a['local']}/{a['prefixlen']}", strict=False))
    for route in json.loads(run(["ip", "-j", "-4", "route", "show", "table", "all"]).stdout or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and route.get("type") not in ("local", "broadcast"):
            used.append(ipaddress.IPv4Network(dst, strict=False))
    return used


VETH_PREFIX = "vmctl-lab"  # + index: the root end; at most 15 characters


def _free_candidates(tries: int) -> list[int]:
    used = _networks_in_use()
    out = []
    for n in random.sample(range(1, 255), k=min(tries, 254)):
        nets = [ipaddress.IPv4Network(f"10.99.{n}.0/24"), ipaddress.IPv4Network(f"10.98.{n}.0/24")]
        if not any(net.overlaps(u) for net in nets for u in used):
            out.append(n)
    return out


def create(netns: str, tries: int = 60) -> LabNet:
    """Namespace, veth pair (its root end's name claims the index atomically),
    addresses, loopback up, and the root-side guard route. Bounded: ``tries`` indexes."""
    run(["ip", "netns", "add", netns])
    net = None
    try:
        for n in _free_candidates(tries):
            veth = f"{VETH_PREFIX}{n}"
            proc = run(["ip", "link", "add", veth, "type", "veth", "peer", "name", LAB_IFACE, "netns", netns],
                       check=False)
            if proc.returncode == 0:
                net = LabNet(n, netns, veth)
                break
            if "exists" not in proc.stderr:
                raise OperationFailed(f"cannot create veth {veth}: {proc.stderr.strip()}",
                                      hint="the lab host needs root and veth support")
        if net is None:
            raise InsufficientResources("no free lab network index (10.99.N.0/24 and 10.98.N.0/24 all taken)",
                                        hint="stop other lab hosts (`ip netns list | grep vmctl-lab`)")
        run(["ip", "addr", "add", f"{net.root_address}/24", "dev", net.veth])
        run(["ip", "link", "set", net.veth, "up"])
        inside = ["ip", "-n", netns]
        run([*inside, "link", "set", "lo", "up"])
        run([*inside, "addr", "add", f"{net.lab_address}/24", "dev", LAB_IFACE])
        run([*inside, "link", "set", LAB_IFACE, "up"])
        run(["ip", "route", "add", "unreachable", str(net.private_subnet)])
    except BaseException:
        remove(net or LabNet(0, netns, ""))
        raise
    return net


def remove(net: LabNet) -> list[str]:
    """Undo :func:`create`, tolerating parts that are already gone; returns problems."""
    problems = []
    steps = [["ip", "netns", "del", net.netns]]
    if net.veth:
        steps[:0] = [["ip", "route", "del", "unreachable", str(net.private_subnet)], ["ip", "link", "del", net.veth]]
    for argv in steps:
        proc = run(argv, check=False)
        text = (proc.stderr or "").strip()
        gone = ("No such" in text or "Cannot find" in text or "does not exist" in text)
        if proc.returncode != 0 and not gone:
            problems.append(f"`{' '.join(argv)}`: {text}")
    return problems


def netns_exists(name: str) -> bool:
    return (Path("/run/netns") / name).exists()


def netns_pids(name: str) -> list[int]:
    """Processes living in the namespace (`ip netns pids`)."""
    if not netns_exists(name):
        return []
    proc = run(["ip", "netns", "pids", name], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]
