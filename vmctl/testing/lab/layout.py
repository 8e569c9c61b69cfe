"""The lab host's private directories and its libvirt configuration.

One temp root per lab holds what is bind-mounted over the root host's paths
inside the lab's mount namespace, plus pidfiles, logs and the lab's disk pool.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput

# lab subdirectory -> the path it replaces inside the lab host
MOUNTS = {"etc": "/etc/libvirt", "lib": "/var/lib/libvirt", "cache": "/var/cache/libvirt",
          "run": "/run/libvirt", "log": "/var/log/libvirt"}
FILE_MOUNTS = {"hosts": "/etc/hosts", "resolv.conf": "/etc/resolv.conf"}
# Definitions of the root host's objects that must not appear (or autostart) in the lab.
_DEFINITIONS = {"qemu", "qemu/autostart", "qemu/networks", "qemu/networks/autostart", "storage",
                "storage/autostart", "secrets"}
_SOCKET_PATH_MAX = 107


@dataclass(frozen=True)
class Layout:
    root: Path

    def path(self, name: str) -> Path:
        return self.root / name

    @property
    def socket(self) -> Path:
        """libvirtd's socket, seen from the root namespace."""
        return self.root / "run" / "libvirt-sock"

    @property
    def pool_dir(self) -> Path:
        return self.root / "pool"

    @property
    def libvirtd_pid(self) -> Path:
        return self.root / "libvirtd.pid"

    @property
    def virtlogd_pid(self) -> Path:
        return self.root / "virtlogd.pid"

    @property
    def daemon_log(self) -> Path:
        return self.root / "log" / "libvirtd.log"

    @property
    def daemon_output(self) -> Path:
        return self.root / "daemons.out"

    @property
    def local_dir(self) -> Path:
        """The host's own storage, bind-mounted (in its mount namespace) over the lab's
        common local-storage path, so every host sees its local pool at the same path."""
        return self.root / "local"

    @property
    def pki_dir(self) -> Path:
        """TLS certificates for QEMU's migration streams (see :mod:`vmctl.testing.lab.pki`)."""
        return self.root / "pki"

    @property
    def ssh_dir(self) -> Path:
        """The optional sshd's config, keys, pidfile and log (mode 0700)."""
        return self.root / "ssh"

    @property
    def sshd_pid(self) -> Path:
        return self.ssh_dir / "sshd.pid"

    @property
    def sshd_log(self) -> Path:
        return self.ssh_dir / "sshd.log"

    @property
    def ssh_client_key(self) -> Path:
        """The private key the lab's sshd accepts for root (public half in ``.pub``)."""
        return self.ssh_dir / "client_ed25519_key"


def make_root(base: Path | None = None) -> Layout:
    """A fresh temp root, traversable (0711) so QEMU's user reaches the pool below it."""
    root = Path(tempfile.mkdtemp(prefix="vmctl-lab-", dir=base))
    os.chmod(root, 0o711)
    layout = Layout(root)
    if len(str(layout.socket)) > _SOCKET_PATH_MAX:
        shutil.rmtree(root)
        raise InvalidInput(f"lab directory {root} is too long for a unix socket path",
                           hint="use a shorter base directory (TMPDIR)")
    return layout


def _copy_tree_dirs(src: Path, dst: Path, *, files: bool) -> None:
    """Copy ``src`` into ``dst`` keeping modes and owners; with ``files=False`` only the
    directory skeleton (skipping per-domain ``domain-*`` directories)."""
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = [d for d in dirnames if not d.startswith("domain-")]
        rel = Path(dirpath).relative_to(src)
        target = dst / rel
        st = os.stat(dirpath)
        target.mkdir(exist_ok=True)
        os.chmod(target, st.st_mode & 0o7777)
        os.chown(target, st.st_uid, st.st_gid)
        if files:
            for name in filenames:
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    shutil.copy2(path, target / name)
                    fst = path.stat()
                    os.chown(target / name, fst.st_uid, fst.st_gid)


def set_conf(path: Path, values: dict[str, str]) -> None:
    """Set ``key = value`` lines in a libvirt .conf file (values already in conf
    syntax); earlier active settings of those keys are dropped."""
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [ln for ln in lines if ln.split("=", 1)[0].strip() not in values]
    kept.append("# --- vmctl lab host ---")
    kept.extend(f"{key} = {value}" for key, value in values.items())
    path.write_text("\n".join(kept) + "\n")


def conf_string(text: str) -> str:
    """A libvirt conf string literal (no quotes or backslashes allowed inside)."""
    if '"' in text or "\\" in text or "\n" in text:
        raise InvalidInput(f"cannot put {text!r} in a libvirt conf string")
    return f'"{text}"'


def populate(layout: Layout, *, host_uuid: str, hostname: str, address: str, migration_address: str | None = None,
             tls: bool = False, etc: Path = Path("/etc/libvirt")) -> None:
    """Fill the lab root: config copy (without the root host's domains, networks,
    pools, secrets), warm capabilities cache, empty state, run and log dirs.

    libvirtd listens on no TCP port: clients come through the host's sshd (or, as
    root on this machine, its unix socket, which only root may open). QEMU's
    migration streams use ``migration_address`` (default ``address``); with
    ``tls`` they can be encrypted with the certificates in ``pki/``."""
    top = str(etc)

    def ignore(src: str, names: list[str]) -> set[str]:
        rel = os.path.relpath(src, top)
        if rel in _DEFINITIONS:
            return {n for n in names if not os.path.isdir(os.path.join(src, n))}
        return set()

    shutil.copytree(etc, layout.path("etc"), symlinks=True, ignore=ignore)
    _copy_tree_dirs(Path("/var/lib/libvirt"), layout.path("lib"), files=False)
    _copy_tree_dirs(Path("/var/log/libvirt"), layout.path("log"), files=False)
    if Path("/var/cache/libvirt").is_dir():
        _copy_tree_dirs(Path("/var/cache/libvirt"), layout.path("cache"), files=True)
    else:
        layout.path("cache").mkdir(mode=0o755)
    layout.path("run").mkdir(mode=0o755)
    layout.path("hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost\n{address}\t{hostname}\n")
    layout.path("resolv.conf").write_text("")
    layout.local_dir.mkdir(mode=0o711)
    migration = migration_address or address
    set_conf(layout.path("etc") / "libvirtd.conf", {
        "host_uuid": conf_string(host_uuid),
        "log_outputs": conf_string("3:file:/var/log/libvirt/libvirtd.log"),
        "listen_tcp": "0", "listen_tls": "0",  # no network listener at all (and libvirtd runs without --listen)
        "unix_sock_group": conf_string("root"),
        "unix_sock_ro_perms": conf_string("0700"), "unix_sock_rw_perms": conf_string("0700"),
        "unix_sock_admin_perms": conf_string("0700"),
    })
    qemu = {
        "cgroup_controllers": "[ ]",  # else both daemons fight over the same cgroup names
        "migration_address": conf_string(migration),
        "migration_host": conf_string(migration),
    }
    if tls:
        qemu.update(migrate_tls_x509_cert_dir=conf_string(str(layout.pki_dir)), migrate_tls_x509_verify="1")
    set_conf(layout.path("etc") / "qemu.conf", qemu)
