"""Which host-tied parts of a template (pinning, listen addresses, SPICE TLS, chardevs
that connect at start) the host cannot honour, each with its reason and the fix.
QEMU would fail at start on each of them; pre-flight refuses them instead, or
--drop-unusable fits them. Where a fact about the host cannot be known, the reason
says so: such a part is refused too, never guessed to work."""

from __future__ import annotations

from vmctl.spec.template import HostTie, HostView, Unusable, is_anywhere_or_loopback

PIN_FIX = "pin to CPUs and NUMA nodes the host has (`virsh capabilities`, <topology>), or remove the pinning"
LISTEN_FIX = ("listen on 127.0.0.1 (virt-viewer and virt-manager reach it over SSH) or 0.0.0.0, "
              "or use <listen type='network'>")
TLS_FIX = ("turn SPICE TLS on in the libvirt daemon's qemu.conf (spice_tls = 1, certificates in "
           "spice_tls_x509_cert_dir) and restart it, or remove tlsPort, defaultMode='secure' and the "
           "mode='secure' channels")
CONNECT_FIX = ("start the server first, or add <reconnect enabled='yes' timeout='10'/> to its <source> "
               "(QEMU then starts without it and connects when it is up)")
SOCKET_FIX = ("start the server first (libvirt needs the socket file at start even with <reconnect>), or make "
              "the VM the server (<source mode='bind'>)")


def host_unusable(ties: tuple[HostTie, ...], view: HostView) -> tuple[Unusable, ...]:
    """The ties ``view``'s host cannot honour (or cannot be known to), as Unusable items."""
    found: list[Unusable] = []
    for tie in ties:
        reason, fix = _judge(tie, view)
        if reason:
            found.append(Unusable(tie.element, reason, tie.path, fit=tie.fit, fix=fix))
    return tuple(found)


def _judge(tie: HostTie, view: HostView) -> tuple[str, str]:  # noqa: C901 - one table
    if tie.kind in ("cpus", "nodes"):
        have = view.cpus if tie.kind == "cpus" else view.nodes
        what, does = ("CPUs", "pins to") if tie.kind == "cpus" else ("NUMA nodes", "binds memory to")
        if have is None:
            return f"{does} host {what}, and this host's capabilities do not list its {what}", PIN_FIX
        wanted = parse_cpuset(tie.value)
        if wanted is None or wanted <= have:
            return "", ""  # a cpuset libvirt cannot parse is refused at define, naming the element
        return f"{does} {what} this host does not have (it has {what} {format_set(have)})", PIN_FIX
    if tie.kind == "listen":
        if is_anywhere_or_loopback(tie.value):
            return "", ""
        present = view.has_address(tie.value)
        if present is None:
            return (f"listens on {tie.value}, and vmctl cannot see the addresses of a remote host",
                    LISTEN_FIX)
        return ("", "") if present else (f"listens on {tie.value}, an address this host does not have",
                                         LISTEN_FIX)
    if tie.kind == "spice-tls":
        enabled, said = view.spice_tls()
        if enabled:
            return "", ""
        if enabled is None:
            return (f"needs a SPICE TLS port, and the libvirt daemon could not say whether spice_tls is on "
                    f"({said})", TLS_FIX)
        return "needs a SPICE TLS port, and spice_tls is off in the libvirt daemon's qemu.conf", TLS_FIX
    if tie.kind == "connect":
        kind, target = tie.value.split(":", 1)
        fix = CONNECT_FIX if kind == "tcp" else SOCKET_FIX
        if not view.local:
            return "connects at start to a server vmctl cannot see from here (a remote host)", fix
        if kind == "unix-file":
            return ("", "") if view.exists(target) else \
                ("connects at start to a socket file that does not exist (libvirt needs it even with <reconnect>)",
                 fix)
        if kind == "tcp":
            host = target.rsplit(":", 1)[0].strip("[]")
            if not is_anywhere_or_loopback(host) and not view.has_address(host):
                return ("connects at start to a server on another machine, which vmctl does not probe", fix)
        up = view.listening(kind, target)
        if up is None:
            return "connects at start to a server vmctl cannot see from here (a remote host)", fix
        return ("", "") if up else ("connects at start to a server that is not listening", fix)
    return "", ""


def parse_cpuset(text: str) -> frozenset[int] | None:
    """libvirt's cpuset syntax ('0-3,^2,8'); None if it is not one."""
    chosen: set[int] = set()
    excluded: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        negate = part.startswith("^")
        bounds = part.lstrip("^").split("-")
        if not part or len(bounds) > 2 or not all(b.strip().isdigit() for b in bounds):
            return None
        low, high = int(bounds[0]), int(bounds[-1])
        if high < low:
            return None
        (excluded if negate else chosen).update(range(low, high + 1))
    return frozenset(chosen - excluded)


def format_set(values: frozenset[int]) -> str:
    """'0-3,8' for {0, 1, 2, 3, 8}; 'none' for the empty set."""
    runs: list[str] = []
    ordered = sorted(values)
    start = prev = ordered[0] if ordered else 0
    for value in ordered[1:] + [None]:  # type: ignore[list-item]
        if value is not None and value == prev + 1:
            prev = value
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if value is not None:
            start = prev = value
    return ",".join(runs) if ordered else "none"
