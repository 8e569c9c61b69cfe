"""The lab host: a second libvirtd in its own network/mount/UTS namespaces.

It must start beside the root libvirtd, answer as a different host, and leave
nothing behind (process, namespace, veth, mount, directory) when stopped."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from vmctl.api import Vmctl
from vmctl.errors import HostError, InvalidInput
from vmctl.testing.lab import LabHost
from vmctl.testing.lab.testlab import mounts_mentioning
from vmctl.virt import domains


def sh(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout


def root_libvirtd_pid() -> int:
    return int(Path("/run/libvirtd.pid").read_text())


def processes_in_netns(inode: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def assert_nothing_left(lab: LabHost, root: Path, veth: str, inode: int, prefix: str) -> None:
    assert lab.netns not in sh("ip", "netns", "list")
    assert veth not in sh("ip", "link")
    assert not (Path("/run/netns") / lab.netns).exists()
    pgrep = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, timeout=10)
    assert pgrep.returncode == 1, pgrep.stdout  # 1: no process matched
    assert processes_in_netns(inode) == []
    assert mounts_mentioning(str(root)) == []
    assert not root.exists()
    assert f"{prefix}.0/24" not in sh("ip", "route", "show", "table", "all")


def test_lab_host_starts_answers_and_leaves_nothing(api: Vmctl):
    root_pid = root_libvirtd_pid()
    root_uuid = api.host.conn.getCapabilities().split("<uuid>", 1)[1].split("</uuid>", 1)[0]
    root_pool_path = api.host_info().pool_path
    lab = LabHost()
    with lab:
        root, veth, inode, prefix = lab.root, lab.net.veth, lab.netns_inode, lab.private_prefix
        print(f"lab start: {lab.timings}")
        assert lab.timings["start"] < 30
        with Vmctl(lab.uri, pool="vmctl", pool_path=str(lab.pool_dir)) as v:
            info = v.host_info()
            assert info.hostname == lab.hostname
            assert info.libvirt_version
            assert info.pool_path is None  # the root host's pool definition was not copied
            assert v.pool.path == str(lab.pool_dir)  # the lab's own pool, in the lab directory
            lab_uuid = v.host.conn.getCapabilities().split("<uuid>", 1)[1].split("</uuid>", 1)[0]
            assert domains.list_all(v.host) == []  # none of the root host's domains
        assert lab_uuid == lab.host_uuid != root_uuid
        assert f"{lab.address}/24" in sh("ip", "-n", lab.netns, "-br", "addr", "show", "eth0")
        routes = sh("ip", "-n", lab.netns, "route").splitlines()
        assert routes == [f"10.99.{lab.net.index}.0/24 dev eth0 proto kernel scope link src {lab.address} "]
        assert f"unreachable {prefix}.0/24" in sh("ip", "route")
        # The guard: the root namespace refuses the lab's private /24 locally (no packet leaves).
        guard = subprocess.run(["ip", "route", "get", f"{prefix}.5"], capture_output=True, text=True, timeout=10)
        assert guard.returncode != 0 and "No route to host" in guard.stderr
        # The bind mounts exist only in the lab's mount namespace.
        assert str(root) not in Path("/proc/self/mountinfo").read_text()
        assert str(root) not in Path(f"/proc/{root_pid}/mountinfo").read_text()
        # The root host is untouched and still answers.
        assert root_libvirtd_pid() == root_pid
        api.host_info()
    print(f"lab stop: {lab.timings}")
    assert lab.timings["stop"] < 30
    assert_nothing_left(lab, root, veth, inode, prefix)
    assert root_libvirtd_pid() == root_pid
    assert api.host_info().pool_path == root_pool_path


def test_stop_cleans_up_a_lab_whose_daemon_was_killed(api: Vmctl):
    """A crashed libvirtd (SIGKILL) must not make stop() leave anything behind."""
    lab = LabHost().start()
    root, veth, inode, prefix = lab.root, lab.net.veth, lab.netns_inode, lab.private_prefix
    try:
        pid = int((root / "libvirtd.pid").read_text())
        os.kill(pid, 9)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2] \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        lab.stop()
    assert_nothing_left(lab, root, veth, inode, prefix)


def test_a_failed_start_leaves_nothing(api: Vmctl, monkeypatch):
    """If libvirtd never answers, start() raises and cleans up what it made."""
    from vmctl.testing.lab import daemons

    made = {}

    def broken_wait(layout, uri, timeout):
        made.update(root=layout.root)
        raise HostError("simulated: libvirtd did not answer")

    monkeypatch.setattr(daemons, "wait_ready", broken_wait)
    lab = LabHost()
    with pytest.raises(HostError, match="simulated"):
        lab.start()
    assert lab.netns not in sh("ip", "netns", "list")
    assert not made["root"].exists()
    assert subprocess.run(["pgrep", "-af", str(made["root"])], capture_output=True, timeout=10).returncode == 1


def test_stop_destroys_running_guests_and_networks(api: Vmctl):
    """stop() with a VM running and a network active: QEMU and dnsmasq go too."""
    from vmctl.libvirtxml.network import nat_network_xml
    from vmctl.virt import networks

    lab = LabHost(sshd=True).start()
    root, veth, inode, prefix = lab.root, lab.net.veth, lab.netns_inode, lab.private_prefix
    try:
        with lab.api() as v:
            networks.ensure_network(v.host, "labnet", nat_network_xml(
                "labnet", "virbr-lab", f"{prefix}.1", "255.255.255.0", f"{prefix}.10", f"{prefix}.20"))
            v.build_tiny()
            v.create("lab-running", network="labnet")  # started, not waited for
            assert v.info("lab-running").state == "running"
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in processes_in_netns(inode)}
        assert {"libvirtd", "virtlogd", "dnsmasq"} <= names and any(n.startswith("qemu") for n in names)
    finally:
        lab.stop()
    print(f"lab stop with a running guest: {lab.timings}")
    assert_nothing_left(lab, root, veth, inode, prefix)


def test_no_unauthenticated_libvirt_listener(api: Vmctl):
    """A lab host serves libvirt over no network port: clients come through its sshd
    (docs/lab.md); its unix sockets are root's only. Plain TCP cannot be asked for."""
    with pytest.raises(InvalidInput, match="authenticated"):
        LabHost(listen_tcp=True)
    with LabHost() as lab:
        listening = sh("ip", "netns", "exec", lab.netns, "ss", "-ltnH")
        assert listening.strip() == ""  # no libvirtd (16509, 16514) or any other TCP listener
        for sock in ("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock"):
            st = (lab.root / "run" / sock).stat()
            assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (0, 0, 0o700), sock
        config = (lab.root / "etc" / "libvirtd.conf").read_text()
        assert 'listen_tcp = 0' in config and 'auth_tcp = "none"' not in config.split("# --- vmctl lab host ---")[1]


def test_cleanup_stops_a_lab_whose_owner_was_killed(api: Vmctl):
    """A test process SIGKILLed mid-run cannot tear down; `python -m vmctl.testing.lab cleanup` does."""
    import sys
    import tempfile

    from vmctl.testing.lab.__main__ import cleanup

    base = Path(tempfile.mkdtemp(prefix="vl-"))
    try:
        owner = subprocess.run(
            [sys.executable, "-c", "import os, sys\nfrom pathlib import Path\nfrom vmctl.testing.lab import LabHost\n"
             "lab = LabHost(base_dir=Path(sys.argv[1])).start()\nprint(lab.root, lab.netns, flush=True)\n"
             "os._exit(0)", str(base)], capture_output=True, text=True, timeout=60, check=True)
        root_text, netns = owner.stdout.split()
        root = Path(root_text)
        assert netns in sh("ip", "netns", "list") and root.exists()
        inode = (Path("/run/netns") / netns).stat().st_ino
        lab = LabHost.adopt(root)
        assert not lab.owner_alive()
        veth, prefix = lab.net.veth, lab.private_prefix
        assert cleanup(base) == 0
        assert_nothing_left(lab, root, veth, inode, prefix)
    finally:
        cleanup(base)
        base.rmdir()
