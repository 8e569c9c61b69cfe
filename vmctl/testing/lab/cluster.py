"""A lab of N libvirt hosts on this machine, for ``vmctl lab up|status|down``.

    lab = Lab()                      # the fixed, root-only directory (VMCTL_LAB_DIR overrides)
    hosts = lab.up(2)                # idempotent; prints nothing
    print(hosts[0].uri)              # qemu+ssh://root@10.99.N.2/system?keyfile=...&known_hosts=...
    lab.down()                       # removes everything up made (also after a killed up)

Each host is a :class:`~vmctl.testing.lab.host.LabHost` with its own sshd (the only
way in from outside: a key ``up`` made, the host key pinned in the lab's
known_hosts), TLS certificates from the lab's CA for migration streams, a link
address on the lab's private link (migration streams go there), its local
storage (pool ``vmctl``) at the same path on every host, and the lab's shared
storage (pool ``shared``). The lab's state survives the process that made it: it
lives in ``lab.json`` under the lab directory, written before each step, so ``down``
finds everything even after ``up`` was killed.

Directory (``/var/lib/vmctl-lab``, root's, 0711: QEMU's user may pass through to
the storage, nobody else may list or write anything)::

    lab.json  .lock          state (0600) and the lock up/down hold
    state/    (0700)         the CA, known_hosts, the ssh wrapper libvirt runs
    shared/                  shared storage: pool "shared" on every host
    local/                   mount point: each host sees its own hosts/<dir>/local here
    hosts/vmctl-lab-XXXXXXXX one LabHost each (its config, daemons' state, sshd keys)
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from vmctl.errors import Conflict, HostError, InvalidInput, OperationFailed, VmctlError
from vmctl.local.testhooks import checkpoint
from vmctl.testing.lab import daemons, hostnet, link
from vmctl.testing.lab.host import STATE_FILE, LabHost
from vmctl.testing.lab.layout import Layout
from vmctl.testing.lab.sshd import host_key, ssh_uri, write_ssh_command

DEFAULT_DIR = Path("/var/lib/vmctl-lab")
MAX_HOSTS = 8
TEST_OWNER = ".test-owner"  # a test run's lab: the owner identity (vmctl.testing.marker), kept by up and down
LOCAL_POOL, SHARED_POOL = "vmctl", "shared"
FORMAT = 1


def lab_dir() -> Path:
    return Path(os.environ.get("VMCTL_LAB_DIR") or DEFAULT_DIR)


@dataclass(frozen=True)
class LabHostInfo:
    name: str           # lab1, lab2, ...
    uri: str            # qemu+ssh://root@ADDRESS/system?keyfile=..&known_hosts=..&no_tty=1&command=..
    address: str        # its sshd, on the veth to the root namespace
    link_address: str   # on the private link: migration streams
    netns: str
    hostname: str
    host_uuid: str
    root: str           # its directory
    socket: str         # its libvirtd's unix socket (root only)
    libvirtd: bool      # running
    sshd: bool

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class LabStatus:
    root: str
    exists: bool           # lab.json is there (a lab, whole or half-made)
    up: bool               # complete, and every host's daemons run
    complete: bool
    shared_dir: str
    local_dir: str
    hosts: list[LabHostInfo]
    already: bool = False  # `up` found the lab up and changed nothing

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "hosts": [h.to_dict() for h in self.hosts]}


def _need_root() -> None:
    if os.geteuid() != 0:
        raise HostError("the lab needs root: it makes network namespaces and runs libvirt daemons",
                        hint="run it as root (sudo vmctl lab ...)")


class Lab:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or lab_dir()
        if not self.root.is_absolute():
            raise InvalidInput(f"the lab directory {self.root} must be an absolute path")
        self.state_file = self.root / "lab.json"

    # --- paths ---------------------------------------------------------------
    @property
    def shared_dir(self) -> Path:
        return self.root / "shared"

    @property
    def local_dir(self) -> Path:
        return self.root / "local"

    @property
    def private_dir(self) -> Path:
        return self.root / "state"

    @property
    def known_hosts(self) -> Path:
        return self.private_dir / "known_hosts"

    @property
    def ssh_command(self) -> Path:
        return self.private_dir / "ssh"

    # --- state ---------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        _need_root()
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        st = self.root.stat()
        if st.st_uid != 0 or st.st_mode & 0o022:
            raise HostError(f"{self.root} is not root's or is writable by others",
                            hint="remove it, or choose another directory with VMCTL_LAB_DIR")
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise Conflict(f"another `vmctl lab` command holds {self.root}/.lock",
                                       hint="wait for it to finish") from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict | None:
        try:
            return json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise OperationFailed(f"cannot read {self.state_file}: {exc}",
                                  hint="`vmctl lab down` removes whatever the lab left") from None

    def _write(self, state: dict) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=1)
        os.replace(tmp, self.state_file)

    # --- commands --------------------------------------------------------------
    def status(self) -> LabStatus:
        _need_root()
        state = self._read() if self.root.is_dir() else None
        if state is None:
            return LabStatus(str(self.root), False, False, False, str(self.shared_dir), str(self.local_dir), [])
        hosts = [self._info(h) for h in state.get("hosts", []) if h.get("root")]
        complete = bool(state.get("complete"))
        up = complete and all(h.libvirtd and h.sshd for h in hosts) and bool(hosts)
        return LabStatus(str(self.root), True, up, complete, str(self.shared_dir), str(self.local_dir), hosts)

    def up(self, count: int = 2, *, ready_timeout: float = 60.0) -> LabStatus:
        """Bring up ``count`` hosts, or find them up (idempotent). A lab left half-made
        (a killed ``up``, a crashed daemon) is taken down and made again."""
        if not 1 <= count <= MAX_HOSTS:
            raise InvalidInput(f"invalid host count {count}", hint=f"use 1 to {MAX_HOSTS} hosts")
        with self._locked():
            current = self.status()
            if current.up:
                if len(current.hosts) != count:
                    raise Conflict(f"a lab of {len(current.hosts)} host(s) is up at {self.root}",
                                   hint="`vmctl lab down` first, or use it as it is")
                return LabStatus(**{**current.__dict__, "already": True})
            if self._leftovers():  # a half-made lab (killed up, crashed daemon): start afresh
                self._down(keep_root=True)
            try:
                self._up(count, ready_timeout)
            except BaseException:
                try:
                    self._down()
                except VmctlError:
                    pass  # the start-up error is the one to report
                raise
            return self.status()

    def down(self) -> list[str]:
        """Remove every host, the link and the lab directory; returns what was removed."""
        with self._locked():
            return self._down()

    # --- making --------------------------------------------------------------------
    def _leftovers(self) -> list[Path]:
        return [p for p in self.root.iterdir() if p.name not in (".lock", TEST_OWNER)]

    def _up(self, count: int, ready_timeout: float) -> None:
        from vmctl.testing.lab.pki import new_ca, save_ca

        lab_id = secrets.token_hex(3)
        self.root.chmod(0o711)  # QEMU's user passes through to the storage; nobody else may list it
        state: dict = {"format": FORMAT, "id": lab_id, "created": time.time(), "complete": False, "hosts": [],
                       "link": None}
        self._write(state)
        for path, mode in ((self.private_dir, 0o700), (self.shared_dir, 0o711), (self.local_dir, 0o711),
                           (self.root / "hosts", 0o711)):
            path.mkdir(mode=mode, exist_ok=True)
            path.chmod(mode)
        ca = new_ca(lab_id)
        save_ca(ca, self.private_dir / "pki")
        the_link = self._make_link(state, lab_id)
        for number in range(1, count + 1):
            record: dict = {"name": f"lab{number}", "netns": "", "root": "", "host_uuid": "", "address": "",
                            "link_address": the_link.address(number)}

            def made_root(root: Path, record: dict = record) -> None:  # write-ahead: before the namespace
                record["root"] = str(root)
                self._write(state)
            lab_host = LabHost(base_dir=self.root / "hosts", sshd=True, ready_timeout=ready_timeout,
                               hostname=f"lab{number}", migration_address=the_link.address(number),
                               local_mount=self.local_dir, tls_ca=ca, on_root=made_root)
            record.update(netns=lab_host.netns, host_uuid=lab_host.host_uuid)
            state["hosts"].append(record)
            self._write(state)
            lab_host.start()
            checkpoint("lab-up:host-started")
            link.attach(the_link, lab_host.netns, number)
            record.update(address=lab_host.address)
            self._write(state)
        known = "".join(f"{h['address']} {host_key(Layout(Path(h['root'])))}\n" for h in state["hosts"])
        self.known_hosts.write_text(known)
        self.known_hosts.chmod(0o600)
        write_ssh_command(self.ssh_command, self.known_hosts)
        for record in state["hosts"]:
            self._define_pools(Layout(Path(record["root"])))
        state["complete"] = True
        self._write(state)

    def _make_link(self, state: dict, lab_id: str) -> link.Link:
        used = {str(n) for n in hostnet._networks_in_use()}
        for index in random.sample(range(1, 255), 40):
            candidate = link.Link(f"vmctl-lab-{lab_id}-link", index)
            if str(candidate.subnet) in used:
                continue
            state["link"] = asdict(candidate)
            self._write(state)
            try:
                link.create(candidate)
            except OperationFailed as exc:
                if "File exists" in exc.message:  # another lab's guard route: try another /24
                    continue
                raise
            return candidate
        raise OperationFailed("no free /24 for the lab's link in 10.97.0.0/16", hint="`vmctl lab down` other labs")

    def _define_pools(self, layout: Layout) -> None:
        from vmctl.virt.host import Host
        from vmctl.virt.storage import ensure_dir_pool

        with Host(f"qemu+unix:///system?socket={layout.socket}") as host:
            ensure_dir_pool(host, LOCAL_POOL, str(self.local_dir))
            ensure_dir_pool(host, SHARED_POOL, str(self.shared_dir))

    def _info(self, record: dict) -> LabHostInfo:
        layout = Layout(Path(record["root"])) if record.get("root") else None
        uri = ssh_uri(record["address"], layout.ssh_client_key, self.known_hosts, self.ssh_command) \
            if layout is not None and record.get("address") else ""
        alive = {comm: bool(layout) and daemons.alive(daemons.read_pid(pidfile) or 0, comm)
                 for comm, pidfile in (("libvirtd", layout.libvirtd_pid if layout else None),
                                       ("sshd", layout.sshd_pid if layout else None))}
        return LabHostInfo(record["name"], uri, record["address"], record["link_address"], record["netns"],
                           record["name"], record["host_uuid"], record.get("root", ""),
                           str(layout.socket) if layout else "", alive["libvirtd"], alive["sshd"])

    # --- removing --------------------------------------------------------------------
    def _down(self, *, keep_root: bool = False) -> list[str]:
        state = self._read() or {}
        removed: list[str] = []
        problems: list[str] = []
        roots = {Path(h["root"]) for h in state.get("hosts", []) if h.get("root")}
        hosts_dir = self.root / "hosts"
        if hosts_dir.is_dir():
            roots |= {p for p in hosts_dir.iterdir() if (p / STATE_FILE).is_file()}
        for root in sorted(roots):
            try:
                lab_host = LabHost.adopt(root)
                lab_host._owns_netns = True  # made by this lab (its name holds the host's random id)
                lab_host.stop()
                removed.append(f"host {lab_host.netns}")
            except (VmctlError, OSError, ValueError, KeyError) as exc:
                problems.append(f"{root}: {exc}")
        for record in state.get("hosts", []):  # a host killed before it wrote its own record
            if hostnet.netns_exists(record["netns"]):
                problems += hostnet.remove(hostnet.LabNet(0, record["netns"], ""))
        if state.get("link"):
            the_link = link.Link(**state["link"])
            problems += link.remove(the_link)
            removed.append(f"link {the_link.netns}")
        for path in self._leftovers() if self.root.is_dir() else []:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            if path.exists():
                problems.append(f"could not remove {path}")
        if problems:
            raise OperationFailed("the lab did not come down cleanly: " + "; ".join(problems),
                                  hint="run `vmctl lab down` again; see `ip netns list`, `pgrep -af vmctl-lab`")
        if not keep_root:
            (self.root / ".lock").unlink(missing_ok=True)
            (self.root / TEST_OWNER).unlink(missing_ok=True)
            try:
                self.root.rmdir()
            except OSError:
                pass
        return removed

