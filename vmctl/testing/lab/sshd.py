"""An optional OpenSSH ``sshd`` for the lab host: the hypervisor host's sshd of a
remote libvirt host, for ``qemu+ssh://`` and for SSH jumps to guests' loopback forwards.

Everything lives in ``DIR/ssh/``: a per-lab ``sshd_config``, an Ed25519 host key,
an Ed25519 client key (the only one in ``authorized_keys``), the pidfile and the
log. The root host's ``/etc/ssh`` is never written and its system sshd never started
(openssh-server is installed only for the ``sshd`` binary).

sshd runs in the lab's network, mount and UTS namespaces (started by the same
script as the daemons, see :mod:`vmctl.testing.lab.daemons`), inside one more nested mount
namespace whose ``/run`` is a small tmpfs holding ``/run/sshd`` (sshd's privilege
separation directory, compiled in, which the root host does not have) and the
lab's ``run/`` at ``/run/libvirt``: libvirt's default socket path, seen from a
session of this sshd (``virt-ssh-helper``, ``nc -U``), is the lab's libvirtd.
"""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path
from urllib.parse import quote

from vmctl.errors import HostError, InvalidInput, OperationFailed
from vmctl.testing.lab import daemons
from vmctl.testing.lab.commands import run
from vmctl.testing.lab.layout import Layout

SSHD = "/usr/sbin/sshd"
SSH_PORT = 22
READY_TIMEOUT = 15.0


def check_installed() -> None:
    for tool in (SSHD, "ssh-keygen"):
        if shutil.which(tool) is None:
            raise OperationFailed(f"{tool} is not installed; the lab's sshd needs openssh-server",
                                  hint="run .ci/setup (it installs openssh-server without starting the system sshd)")


def _keygen(path: Path, comment: str) -> None:
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])


def sshd_config(layout: Layout, address: str) -> str:
    d = layout.ssh_dir
    if any(c.isspace() or c in "\"'#%" for c in str(d)):
        raise InvalidInput(f"the lab directory {d} cannot appear in an sshd_config",
                           hint="use a base directory without spaces, quotes, '#' or '%'")
    if layout.root.is_relative_to("/run") or layout.root.resolve().is_relative_to("/run"):
        raise InvalidInput(f"the lab directory {layout.root} is under /run, which sshd's namespace replaces",
                           hint="use a base directory outside /run (the default is TMPDIR)")
    return "\n".join([
        "# vmctl lab host: sshd on the lab's address only, root by public key only (docs/lab.md)",
        f"ListenAddress {address}:{SSH_PORT}",
        "AddressFamily inet",
        f"HostKey {d / 'host_ed25519_key'}",
        f"PidFile {layout.sshd_pid}",
        f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "AllowUsers root",
        "PermitRootLogin prohibit-password",
        "AuthenticationMethods publickey",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # StrictModes would refuse authorized_keys because /tmp (above the lab directory) is
        # world-writable; the file is root's, 0600, in the lab's 0700 ssh/ directory.
        "StrictModes no",
        # SSH jumps to guests: their loopback forwards, and port 22 of guests on the lab's
        # own libvirt networks (their DHCP-lease addresses); nothing else is forwarded.
        "AllowTcpForwarding local",
        "PermitOpen 127.0.0.1:* *:22",
        "AllowStreamLocalForwarding no",
        "GatewayPorts no",
        "X11Forwarding no",
        "AllowAgentForwarding no",
        "PermitTunnel no",
        "PermitUserEnvironment no",
        "UseDNS no",
        "PrintMotd no",
        "PrintLastLog no",
        "LogLevel INFO",
        "",
    ])


def prepare(layout: Layout, address: str) -> None:
    """Keys, authorized_keys and sshd_config in ``DIR/ssh/`` (mode 0700)."""
    check_installed()
    d = layout.ssh_dir
    d.mkdir(mode=0o700)
    _keygen(d / "host_ed25519_key", f"vmctl-lab host key {address}")
    _keygen(layout.ssh_client_key, "vmctl-lab client key")
    authorized = d / "authorized_keys"
    authorized.write_text(Path(f"{layout.ssh_client_key}.pub").read_text())
    authorized.chmod(0o600)
    (d / "sshd_config").write_text(sshd_config(layout, address))


def host_key(layout: Layout) -> str:
    """The lab sshd's public host key, ``"ssh-ed25519 AAAA..."`` (no comment)."""
    return " ".join((layout.ssh_dir / "host_ed25519_key.pub").read_text().split()[:2])


def wait_ready(layout: Layout, timeout: float = READY_TIMEOUT) -> float:
    """sshd writes its pidfile after it listens: poll for it (every 0.05 s, at most
    ``timeout``); fail with its log tail if it never appears."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        pid = daemons.read_pid(layout.sshd_pid)
        if pid is not None and daemons.alive(pid, "sshd"):
            return time.monotonic() - started
        if time.monotonic() >= deadline:
            try:
                tail = " / ".join(layout.sshd_log.read_text(errors="replace").splitlines()[-5:])
            except OSError:
                tail = "no log"
            raise HostError(f"the lab's sshd did not start within {timeout:g} s: {tail}", hint=f"see {layout.sshd_log}")
        time.sleep(0.05)


def write_ssh_command(path: Path, known_hosts: Path) -> Path:
    """A small ``ssh`` wrapper for libvirt's ``qemu+ssh://...?command=PATH``: libvirt runs
    the system ssh, which would read ~/.ssh/config and ~/.ssh/known_hosts; the wrapper
    makes it read no configuration file and trust only the host keys in ``known_hosts``,
    strictly (an unknown or changed key fails the connection; nothing is ever added)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise OperationFailed("ssh is not installed", hint="run .ci/setup (openssh-client)")
    if any(c.isspace() for c in str(known_hosts)):  # ssh splits UserKnownHostsFile at whitespace
        raise InvalidInput(f"known_hosts path {str(known_hosts)!r} contains whitespace")
    options = ["-F", "none", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
               "-o", "StrictHostKeyChecking=yes", "-o", "UpdateHostKeys=no", "-o", "CheckHostIP=no",
               "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10"]
    path.write_text("#!/bin/sh\n"
                    "# ssh for libvirt's qemu+ssh transport: host keys only from one file, checked strictly\n"
                    f"exec {shlex.join([ssh, *options])} \"$@\"\n")
    path.chmod(0o700)
    return path


def ssh_uri(address: str, key: Path, known_hosts: Path, command: Path | None = None, user: str = "root") -> str:
    """``qemu+ssh://USER@ADDRESS/system?keyfile=..&known_hosts=..&no_tty=1[&command=..]``."""
    params = [("keyfile", key), ("known_hosts", known_hosts), ("no_tty", "1")]
    if command is not None:
        params.append(("command", command))
    query = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in params)
    return f"qemu+ssh://{user}@{address}/system?{query}"
