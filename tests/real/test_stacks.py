"""Stacks on the real tiny guest (issue 16, items 2 and 7, on one host): a stack of two
web replicas and a client that depends on them (inline provisioning, a readiness file,
a port forward, a private network where each reaches the others by name) brought up, re-applied with no change, `exec --stack`, a group snapshot
of the stack reverted, changed (a replica added),
killed half-way and re-applied, listed, and torn down with nothing left; bad stack
files are refused before anything is made. Entry names start with the test's
journaled name, so the harness knows every VM the stack makes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vmctl.ops.stacknet import stack_networks
from vmctl.testing.ndjson import split
from vmctl.virt import networks

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def stack_file(tmp_path: Path, prefix: str, replicas: int) -> Path:
    path = tmp_path / "stack.yaml"
    path.write_text(f"""\
version: 1
name: {prefix}
networks:
  lan: {{}}
vms:
  {prefix}-web:
    count: {replicas}
    memory: 256M
    networks: [lan]
    provision:
      - run: "echo served-by-$(hostname) > /root/index"
  {prefix}-client:
    depends_on: [{prefix}-web]
    networks: [lan]
    ports: ["${{CLIENT_PORT}}:80"]
    provision:
      - run: "echo provisioned >> /root/ready"
    ready:
      file: /root/ready
      timeout: 60
""")
    return path


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_up_again_change_kill_and_down(api, tiny, vm_name, leftovers, tmp_path, monkeypatch):
    before = leftovers()
    monkeypatch.setenv("CLIENT_PORT", str(free_port()))
    web, client = f"{vm_name}-web", f"{vm_name}-client"
    path = stack_file(tmp_path, vm_name, 2)
    try:
        plan = vmctl("up", "-f", str(path), "--dry-run", "--json")
        events, result = split(plan.stdout)
        assert plan.returncode == 0, plan.stderr
        assert [(e["vm"], e["action"], e["layer"]) for e in events] == [
            (f"vmctl-{vm_name}-lan", "network", -1), (f"{web}-1", "create", 0), (f"{web}-2", "create", 0), (client, "create", 1)]
        assert result["result"]["dry_run"] and leftovers() == before  # a dry run makes nothing

        done = vmctl("up", "-f", str(path), "--json")
        assert done.returncode == 0, done.stderr
        events, result = split(done.stdout)
        assert result["result"]["done"] == {f"{web}-1": "created", f"{web}-2": "created", client: "created"}
        ready = [e["vm"] for e in events if e["event"] == "ready"]
        assert ready.index(client) > max(ready.index(f"{web}-1"), ready.index(f"{web}-2"))  # after its dependency
        for name in (f"{web}-1", f"{web}-2"):
            assert api.exec_output(name, ["cat", "/root/index"]).stdout == f"served-by-{name}\n".encode()
        assert api.exec_output(client, ["test", "-e", "/root/ready"]).exit_status == 0
        # the private network: each reaches the others by name, the host has no address on it
        assert reaches(api, client, f"{web}-1") and reaches(api, client, f"{web}-2") and reaches(api, f"{web}-2", client)
        assert [net.name for net in networks.list_networks(api.host) if net.name == f"vmctl-{vm_name}-lan"]
        assert "10.213." not in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
        ports = {(f.forward.host_port, f.forward.guest_port) for f in api.port_list(client)}
        assert (int(os.environ["CLIENT_PORT"]), 80) in ports
        info = api.info(client)
        assert info.labels["vmctl.stack"] == vm_name and info.labels["vmctl.stack.vm"] == client

        again = vmctl("up", "-f", str(path), "--json")  # no change: everything kept
        assert again.returncode == 0, again.stderr
        assert set(split(again.stdout)[1]["result"]["done"].values()) == {"kept"}
        # its provisioning ran once: the readiness check does not replace the record of completed steps
        assert api.exec_output(client, ["cat", "/root/ready"]).stdout == b"provisioned\n"

        # a stack VM restarted by hand (no `up`): its private address comes back at boot
        api.stop(f"{web}-2")
        api.start(f"{web}-2", wait_boot=True)
        api.wait(f"{web}-2", until="ssh")
        assert reaches(api, client, f"{web}-2") and reaches(api, f"{web}-2", f"{web}-1")

        ps = vmctl("ps", "-f", str(path), "--json")
        assert ps.returncode == 0 and [v["name"] for v in json.loads(ps.stdout)] == [client, f"{web}-1", f"{web}-2"]

        # the stack's VMs at once: a command on each, a group snapshot, a group revert
        ran = vmctl("exec", "--stack", vm_name, "--json", "--", "hostname")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert sorted(r["name"] for r in json.loads(ran.stdout)) == sorted([client, f"{web}-1", f"{web}-2"])
        group = f"{vm_name}-g"
        taken = vmctl("snapshot", "create", "--stack", vm_name, "--group", group, "--json")
        assert taken.returncode == 0 and len(json.loads(taken.stdout)) == 3, taken.stdout + taken.stderr
        assert api.exec(f"{web}-1", ["sh", "-c", "echo changed > /root/index"]) == 0
        reverted = vmctl("snapshot", "revert", "--group", group)
        assert reverted.returncode == 0, reverted.stderr
        assert api.exec_output(f"{web}-1", ["cat", "/root/index"]).stdout == f"served-by-{web}-1\n".encode()

        # a replica added, then the run killed while it creates: a re-run finishes it
        path = stack_file(tmp_path, vm_name, 3)
        proc = subprocess.Popen([*VMCTL, "up", "-f", str(path), "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 120
        try:
            for text in proc.stdout:  # bounded by the deadline below and by the process ending
                if json.loads(text).get("event") == "creating" or time.monotonic() > deadline:
                    break
            time.sleep(1.0)  # inside the create
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
        resumed = vmctl("up", "-f", str(path), "--json")
        assert resumed.returncode == 0, resumed.stderr
        assert split(resumed.stdout)[1]["result"]["done"][f"{web}-3"] in ("created", "kept")
        assert api.exec_output(f"{web}-3", ["cat", "/root/index"]).stdout == f"served-by-{web}-3\n".encode()
        assert reaches(api, client, f"{web}-3") and reaches(api, f"{web}-3", f"{web}-1")  # the kept VMs know it too
    finally:
        down = vmctl("down", "-f", str(path), "--json")
    assert down.returncode == 0, down.stderr
    assert sorted(json.loads(down.stdout)["removed"]) == sorted([client, f"{web}-1", f"{web}-2", f"{web}-3"])
    assert leftovers() == before
    assert stack_networks(api.host, vm_name) == []  # its network went with it


def reaches(api, name: str, peer: str) -> bool:
    """``name`` reaches ``peer`` by name over the stack's network (one ping, 5 s at most)."""
    done = api.exec_output(name, ["ping", "-c", "1", "-W", "5", peer], timeout=30)
    return done.exit_status == 0 and b" 10.213.0." in done.stdout


def test_bad_stack_files_are_refused_before_anything(api, tiny, vm_name, leftovers, tmp_path):
    before = leftovers()
    cases = {
        "unknown key": (f"version: 1\nvms:\n  {vm_name}-a:\n    cpu: 2\n", 3, "vms.", "did you mean"),
        "cycle": (f"version: 1\nvms:\n  {vm_name}-a:\n    depends_on: [{vm_name}-b]\n"
                  f"  {vm_name}-b:\n    depends_on: [{vm_name}-a]\n", 3, "cycle", ""),
        "unknown image": (f"version: 1\nvms:\n  {vm_name}-a:\n    image: no-such-image\n", 4,
                          "no image 'no-such-image'", ""),
        "duplicate names": (f"version: 1\nvms:\n  {vm_name}-a:\n    count: 2\n  {vm_name}-a-1: {{}}\n", 3,
                            f"{vm_name}-a-1", ""),
    }
    for what, (text, code, words, more) in cases.items():
        path = tmp_path / f"{what.replace(' ', '-')}.yaml"
        path.write_text(text)
        proc = vmctl("up", "-f", str(path), "--json")
        error = json.loads(proc.stdout)["error"]
        assert proc.returncode == code, (what, proc.stdout)
        assert words in error["message"] and more in error["message"] + error["hint"], (what, error)
        assert f"{path.name}:" in error["message"] or what == "unknown image", (what, error)  # file and line
    assert leftovers() == before


def test_two_ups_of_one_stack_at_once(api, tiny, vm_name, leftovers, tmp_path):
    """Racing each other, each up makes some VMs and the other's are refused as busy (exit 10,
    nothing harmed); one network; a third up finds everything and keeps it; down removes all."""
    before = leftovers()
    path = tmp_path / "stack.yaml"
    path.write_text(f"version: 1\nname: {vm_name}\nnetworks: {{lan: {{}}}}\nvms:\n"
                    f"  {vm_name}-w: {{count: 2, memory: 256M, networks: [lan]}}\n")
    try:
        procs = [subprocess.Popen([*VMCTL, "up", "-f", str(path), "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True) for _ in range(2)]
        outcomes = [proc.communicate(timeout=600) for proc in procs]
        codes = sorted(proc.returncode for proc in procs)
        assert set(codes) <= {0, 10}, outcomes
        for proc, (out, _err) in zip(procs, outcomes):
            if proc.returncode == 10:
                assert "is busy: create by pid" in split(out)[1]["error"]["message"], out
        assert [n.name for n in networks.list_networks(api.host) if n.name == f"vmctl-{vm_name}-lan"]
        third = vmctl("up", "-f", str(path), "--json")
        assert third.returncode == 0, third.stderr
        assert split(third.stdout)[1]["result"]["done"] == {f"{vm_name}-w-1": "kept", f"{vm_name}-w-2": "kept"}
        assert reaches(api, f"{vm_name}-w-1", f"{vm_name}-w-2")
    finally:
        down = vmctl("down", "-f", str(path), "--json")
    assert down.returncode == 0, down.stderr
    assert leftovers() == before and stack_networks(api.host, vm_name) == []


def test_sigterm_during_up_leaves_whole_vms_and_a_rerun_keeps_them(api, tiny, vm_name, leftovers, tmp_path):
    """SIGTERM while a layer is being made: the creates under way finish or are undone (never
    half-made), up exits 143, and the next up keeps what is there and makes the rest."""
    before = leftovers()
    path = tmp_path / "stack.yaml"
    path.write_text(f"version: 1\nname: {vm_name}\nnetworks: {{lan: {{}}}}\nvms:\n"
                    f"  {vm_name}-w: {{count: 2, memory: 256M, networks: [lan]}}\n")
    try:
        proc = subprocess.Popen([*VMCTL, "up", "-f", str(path), "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 120
        for text in proc.stdout:  # bounded by the deadline and by the process ending
            if json.loads(text).get("event") == "creating" or time.monotonic() > deadline:
                break
        time.sleep(1.0)  # inside the creates
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        assert proc.returncode == 143
        again = vmctl("up", "-f", str(path), "--json")
        assert again.returncode == 0, again.stderr
        assert set(split(again.stdout)[1]["result"]["done"].values()) <= {"kept", "created"}
        assert reaches(api, f"{vm_name}-w-1", f"{vm_name}-w-2")
    finally:
        down = vmctl("down", "-f", str(path), "--json")
    assert down.returncode == 0, down.stderr
    assert leftovers() == before and stack_networks(api.host, vm_name) == []
