"""LabHost: a second libvirt host on this machine, for tests and migration work.

    with LabHost() as lab:
        api = lab.api()                     # Vmctl on the lab's libvirtd
        print(lab.uri, lab.netns, lab.address)

It has its own network namespace (veth to the root namespace, no other routes),
its own mount/UTS namespace with private copies of libvirt's directories, and
its own virtlogd and libvirtd. The root host's libvirtd, domains and pools are
never touched. ``stop()`` removes everything the lab made, even after failures.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import HostError, InvalidInput, OperationFailed, VmctlError
from vmctl.testing.lab import daemons, hostnet
from vmctl.testing.lab import sshd as lab_sshd
from vmctl.testing.lab.hostnet import LabNet
from vmctl.testing.lab.layout import Layout, make_root, populate

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.testing.lab.pki import CertAuthority

READY_TIMEOUT = 60.0
LAB_POOL = "vmctl"
STATE_FILE = "lab.json"  # who owns the lab and what it made, for `python -m vmctl.testing.lab cleanup`


def process_identity(pid: int) -> str | None:
    """``pid:starttime`` (survives no pid reuse), or None when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return f"{pid}:{fields[19]}"


class LabHost:
    """One lab libvirt host; a context manager (start on enter, stop on exit)."""

    def __init__(self, *, base_dir: Path | None = None, listen_tcp: bool = False, sshd: bool = False,
                 ready_timeout: float = READY_TIMEOUT, hostname: str | None = None,
                 migration_address: str | None = None, local_mount: Path | None = None,
                 tls_ca: "CertAuthority | None" = None, on_root: Callable[[Path], None] | None = None) -> None:
        if listen_tcp:
            raise InvalidInput("lab hosts serve libvirt only over authenticated transports (SSH), never plain TCP",
                               hint="use LabHost(sshd=True) and lab.client_uri(), or `vmctl lab up`")
        self.id = secrets.token_hex(4)
        self.netns = f"vmctl-lab-{self.id}"
        self.hostname = hostname or self.netns
        self.host_uuid = str(uuidlib.uuid4())
        self.migration_address = migration_address  # QEMU's migration streams (default: the lab address)
        self.local_mount = local_mount  # where this host's local/ is mounted in its namespace
        self.tls_ca = tls_ca  # certificates for TLS migration streams, issued at start
        self.on_root = on_root  # told the lab directory as soon as it exists (before the namespace)
        self.sshd = sshd  # an OpenSSH sshd on the lab address (root, public key only), see vmctl.testing.lab.sshd
        self.ready_timeout = ready_timeout
        self.base_dir = base_dir
        self.layout: Layout | None = None
        self.net: LabNet | None = None
        self.netns_inode: int | None = None
        self.timings: dict[str, float] = {}
        self._started = False
        self._owns_netns = False  # never remove a namespace someone else made (a name clash)

    # --- facts -------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self._need_layout().root

    @property
    def uri(self) -> str:
        return f"qemu+unix:///system?socket={self._need_layout().socket}"

    @property
    def ssh_host_key(self) -> str:
        """The lab sshd's public host key, ``"ssh-ed25519 AAAA..."`` (only with ``sshd=True``)."""
        return lab_sshd.host_key(self._need_sshd())

    @property
    def ssh_known_hosts_line(self) -> str:
        """``"10.99.N.2 ssh-ed25519 AAAA..."``: the line a known_hosts file needs for the lab's sshd."""
        return f"{self.address} {self.ssh_host_key}"

    @property
    def ssh_client_key(self) -> Path:
        """The private key the lab's sshd accepts for root (only with ``sshd=True``)."""
        return self._need_sshd().ssh_client_key

    def ssh_uri(self, known_hosts: Path, command: Path | None = None) -> str:
        """``qemu+ssh://root@ADDRESS/system?keyfile=..&known_hosts=..&no_tty=1[&command=..]``
        for the lab's libvirtd through its sshd; ``command`` is best a wrapper from
        :func:`vmctl.testing.lab.sshd.write_ssh_command` (the system ssh would use ~/.ssh/known_hosts)."""
        return lab_sshd.ssh_uri(self.address, self.ssh_client_key, known_hosts, command)

    def _need_sshd(self) -> Layout:
        if not self.sshd:
            raise HostError("this lab host runs no sshd", hint="use LabHost(sshd=True)")
        return self._need_layout()

    @property
    def address(self) -> str:
        """The lab's address on the veth pair (the root namespace is ``root_address``)."""
        return self._need_net().lab_address

    @property
    def root_address(self) -> str:
        return self._need_net().root_address

    @property
    def private_prefix(self) -> str:
        """``10.98.N``: a /24 for libvirt networks that exists only inside this lab."""
        return str(self._need_net().private_subnet.network_address).rsplit(".", 1)[0]

    @property
    def pool_dir(self) -> Path:
        return self._need_layout().pool_dir

    def api(self, **options: object) -> "Vmctl":
        """A Vmctl on this lab host, reached as any remote host is: ``qemu+ssh://`` through
        the lab's sshd (host key pinned in the lab's known_hosts), guests through SSH
        jumps via that sshd. Its pool lives in the lab directory."""
        from vmctl.api import Vmctl

        options.setdefault("pool", LAB_POOL)
        options.setdefault("pool_path", str(self.pool_dir))
        return Vmctl(self.client_uri(), **options)  # type: ignore[arg-type]

    def client_uri(self) -> str:
        """The URI a client uses: qemu+ssh with this lab's own known_hosts and an ssh
        wrapper that trusts nothing else (needs ``sshd=True``)."""
        layout = self._need_sshd()
        known = layout.ssh_dir / "known_hosts"
        known.write_text(self.ssh_known_hosts_line + "\n")
        command = lab_sshd.write_ssh_command(layout.ssh_dir / "ssh", known)
        return self.ssh_uri(known, command)

    def _need_layout(self) -> Layout:
        if self.layout is None:
            raise HostError("the lab host is not started", hint="use `with LabHost() as lab:` or lab.start()")
        return self.layout

    def _need_net(self) -> LabNet:
        if self.net is None:
            raise HostError("the lab host is not started", hint="use `with LabHost() as lab:` or lab.start()")
        return self.net

    # --- lifecycle ---------------------------------------------------------------
    def __enter__(self) -> "LabHost":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "LabHost":
        """Namespaces, directories, daemons; ready when libvirtd answers. On any
        failure everything made so far is removed and the error re-raised."""
        if self._started:
            return self
        self._started = True
        t0 = time.monotonic()
        try:
            self.layout = make_root(self.base_dir)
            self._save_state()
            if self.on_root is not None:
                self.on_root(self.layout.root)
            self.net = hostnet.create(self.netns)  # on failure it removes what it made itself
            self._owns_netns = True
            self._save_state()
            self.netns_inode = (Path("/run/netns") / self.netns).stat().st_ino
            self.timings["start.network"] = time.monotonic() - t0
            t1 = time.monotonic()
            populate(self.layout, host_uuid=self.host_uuid, hostname=self.hostname, address=self.net.lab_address,
                     migration_address=self.migration_address, tls=self.tls_ca is not None)
            if self.tls_ca is not None:
                from vmctl.testing.lab.pki import write_host_certs

                write_host_certs(self.tls_ca, self.layout.pki_dir, hostname=self.hostname,
                                 address=self.migration_address or self.net.lab_address)
            if self.sshd:
                lab_sshd.prepare(self.layout, self.net.lab_address)
            self.timings["start.files"] = time.monotonic() - t1
            t2 = time.monotonic()
            daemons.start(self.layout, self.netns, self.hostname, local_mount=self.local_mount, sshd=self.sshd)
            self.timings["start.daemons"] = time.monotonic() - t2
            self.timings["start.ready"] = daemons.wait_ready(self.layout, self.uri, self.ready_timeout)
            if self.sshd:
                self.timings["start.sshd"] = lab_sshd.wait_ready(self.layout)
        except BaseException:
            try:
                self.stop()
            except VmctlError:
                pass  # the start-up error is the one to report
            raise
        self.timings["start"] = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Destroy the lab's domains and networks, stop its daemons and every other
        process left in its namespace, remove the veth, namespace and files.
        Every step runs even when an earlier one failed; problems are raised at the end."""
        if not self._started:
            return
        t0 = time.monotonic()
        problems: list[str] = []
        layout, net = self.layout, self.net
        if layout is not None and daemons.alive(daemons.read_pid(layout.libvirtd_pid) or 0, "libvirtd"):
            problems += self._stop_guests()
        self.timings["stop.guests"] = time.monotonic() - t0
        t1 = time.monotonic()
        if layout is not None:
            for pidfile, comm in ((layout.sshd_pid, "sshd"), (layout.libvirtd_pid, "libvirtd"),
                                  (layout.virtlogd_pid, "virtlogd")):
                if problem := daemons.kill(pidfile, comm):
                    problems.append(f"{comm}: {problem}")
        if self._owns_netns and (leftover := hostnet.netns_pids(self.netns)) and \
                (problem := daemons.kill_pids(leftover)):
            problems.append(f"processes in {self.netns}: {problem}")
        self.timings["stop.daemons"] = time.monotonic() - t1
        t2 = time.monotonic()
        if self._owns_netns:
            problems += hostnet.remove(net or LabNet(0, self.netns, ""))
        if layout is not None and layout.root.name.startswith("vmctl-lab-"):
            shutil.rmtree(layout.root, ignore_errors=True)
            if layout.root.exists():
                problems.append(f"could not remove {layout.root}")
        self.timings["stop.cleanup"] = time.monotonic() - t2
        self.timings["stop"] = time.monotonic() - t0
        self._started = False
        if problems:
            raise OperationFailed(f"lab host {self.netns} did not stop cleanly: " + "; ".join(problems),
                                  hint="check `ip netns list`, `ip link` and `pgrep -af vmctl-lab`")

    def _save_state(self) -> None:
        state = {"id": self.id, "netns": self.netns, "owns_netns": self._owns_netns,
                 "owner": process_identity(os.getpid()),
                 "index": self.net.index if self.net else None, "veth": self.net.veth if self.net else ""}
        (self._need_layout().root / STATE_FILE).write_text(json.dumps(state) + "\n")

    @classmethod
    def adopt(cls, root: Path) -> "LabHost":
        """The lab recorded in ``root`` (e.g. left behind by a killed test), ready for stop()."""
        state = json.loads((root / STATE_FILE).read_text())
        lab = cls()
        lab.id, lab.netns, lab.hostname = state["id"], state["netns"], state["netns"]
        lab.layout = Layout(root)
        if state.get("veth"):
            lab.net = LabNet(int(state["index"]), lab.netns, state["veth"])
        lab._started, lab._owns_netns = True, bool(state.get("owns_netns"))
        return lab

    def owner_alive(self) -> bool:
        """Whether the process that started this lab still runs."""
        try:
            owner = json.loads((self.root / STATE_FILE).read_text()).get("owner") or ""
        except (OSError, ValueError):
            return False
        pid = owner.partition(":")[0]
        return pid.isdigit() and process_identity(int(pid)) == owner

    def _stop_guests(self) -> list[str]:
        """Destroy every running domain and active network through the lab's libvirtd."""
        from vmctl.virt import domains, networks
        from vmctl.virt.host import Host

        problems = []
        try:
            with Host(self.uri) as host:
                for record in domains.list_all(host):
                    if record.state != "shut-off":
                        try:
                            domains.lookup(host, record.name).destroy()
                        except VmctlError as exc:
                            problems.append(exc.message)
                networks.destroy_all(host)
        except VmctlError as exc:
            problems.append(exc.message)
        return problems
