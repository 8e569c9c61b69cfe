"""`vmctl run` and `vmctl gc` on the real guest: status passed through, output
streamed, artefacts collected, the failure bundle, timeouts, and nothing left
running or on disk after a success, a failure, Ctrl-C, SIGTERM or SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmctl.testing.pause import PausedVmctl
from vmctl.virt import domains

VMCTL = [sys.executable, "-m", "vmctl"]


def vmctl(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VMCTL, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def left_behind(api, name: str) -> tuple[bool, list[str]]:
    """(a domain of that name exists, pool volumes carrying the name: disk, seed, record)."""
    pool = api.pools.ensure()
    pool.refresh()
    return domains.exists(api.host, name), sorted(v for v in pool.volume_names() if name in v)


def test_run_streams_output_passes_status_and_leaves_nothing(api, tiny, vm_name):
    proc = vmctl("run", "--name", vm_name, "--", "sh", "-c", "echo to-out; echo to-err >&2; exit 0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "to-out\n"
    assert "to-err" in proc.stderr and "Traceback" not in proc.stderr
    assert left_behind(api, vm_name) == (False, [])


def test_a_failing_command_passes_its_status_collects_and_writes_a_bundle(api, tiny, vm_name, tmp_path):
    script = "mkdir -p /root/out && echo result-data > /root/out/r.txt && echo failing >&2 && exit 7"
    proc = vmctl("run", "--name", vm_name, "--json", "--artifacts", str(tmp_path / "art"),
                 "--collect", f"/root/out:{tmp_path / 'col'}", "--collect", f"/nonexistent:{tmp_path / 'col'}",
                 "--", "sh", "-c", script)
    assert proc.returncode == 7, proc.stderr
    lines = events(proc.stdout)
    result = lines[-1]["result"]
    assert result["outcome"] == "failed" and result["exit_status"] == 7
    assert [e["event"] for e in lines[:-1]][:3] == ["planned", "booted", "ssh-ready"]
    assert any(e["event"] == "collect-failed" and e["guest_path"] == "/nonexistent" for e in lines)
    assert (tmp_path / "col" / "out" / "r.txt").read_text() == "result-data\n"
    bundle = Path(result["bundle"])
    assert bundle == tmp_path / "art" / vm_name
    assert sorted(p.name for p in bundle.iterdir()) == ["console.log", "dmesg.txt", "events.jsonl", "info.json",
                                                       "journal.txt", "result.json"]
    assert bundle.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in bundle.iterdir())
    assert "boot-finished" in (bundle / "console.log").read_text()
    assert "Linux version" in (bundle / "dmesg.txt").read_text()
    assert json.loads((bundle / "info.json").read_text())["name"] == vm_name
    assert json.loads((bundle / "result.json").read_text())["exit_status"] == 7
    recorded = [json.loads(line)["event"] for line in (bundle / "events.jsonl").read_text().splitlines()]
    assert "command-finished" in recorded and "failed" in recorded and "libvirt" in recorded  # what libvirt said
    assert left_behind(api, vm_name) == (False, [])


def test_a_script_gets_its_arguments_and_the_environment_outside_argv(api, tiny, vm_name, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text('#!/bin/sh\necho "args:$1,$2"\necho "token:$TOKEN"\nexit 3\n')
    proc = vmctl("run", "--name", vm_name, "--script", str(script), "-e", "TOKEN", "--", "a b", "c",
                 env={"TOKEN": "s3cret-value"})
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "args:a b,c\ntoken:s3cret-value\n"
    assert left_behind(api, vm_name) == (False, [])


def test_a_command_over_its_timeout_is_vmctls_failure_with_a_bundle(api, tiny, vm_name, tmp_path):
    proc = vmctl("run", "--name", vm_name, "--json", "--timeout", "3", "--artifacts", str(tmp_path),
                 "--", "sleep", "120")
    assert proc.returncode == 255, proc.stderr
    lines = events(proc.stdout)
    assert lines[-1]["error"]["code"] == "timeout" and lines[-1]["error"]["vmctl_exit_code"] == 9
    assert lines[-2]["result"]["outcome"] == "timeout"
    assert (tmp_path / vm_name / "result.json").is_file()
    assert left_behind(api, vm_name) == (False, [])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_cancelled_run_cleans_up_and_exits_128_plus_the_signal(api, tiny, vm_name, tmp_path, sig):
    proc = subprocess.Popen([*VMCTL, "run", "--name", vm_name, "--json", "--artifacts", str(tmp_path),
                             "--", "sleep", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"vmctl ended early: {proc.stderr.read()}"
            seen.append(json.loads(line))
            if seen[-1]["event"] == "command-started":
                break
        time.sleep(0.5)  # the command runs
        proc.send_signal(sig)
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    result = events(rest)[-1]["result"]
    assert result["outcome"] == "cancelled"
    assert (tmp_path / vm_name / "console.log").is_file()
    assert left_behind(api, vm_name) == (False, [])


@pytest.mark.parametrize("then", ["gc", "next-run"])
def test_sigkill_leaves_no_running_guest_and_the_next_run_or_gc_removes_the_rest(api, tiny, vm_name, tmp_path,
                                                                                 then):
    held = PausedVmctl(["run", "--name", vm_name, "--", "true"], "run:booted", tmp_path)
    assert domains.lookup(api.host, vm_name).state() == "running"
    held.stop(signal.SIGKILL)
    deadline = time.monotonic() + 30  # libvirt destroys the guest once it sees the connection gone
    while domains.exists(api.host, vm_name) and time.monotonic() < deadline:
        time.sleep(0.2)
    present, volumes = left_behind(api, vm_name)
    assert not present, "the killed run's guest still exists"
    assert volumes, "the killed run's volumes and record should stay until the next run or gc"
    if then == "gc":
        proc = vmctl("gc", "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert vm_name in [f["target"] for f in report["repaired"]]
    else:
        proc = vmctl("run", "--", "true")
        assert proc.returncode == 0, proc.stderr
    assert left_behind(api, vm_name) == (False, [])


def test_keep_on_failure_keeps_the_vm_until_gc_finds_it_old_enough(api, tiny, vm_name):
    proc = vmctl("run", "--name", vm_name, "--keep-on-failure", "--", "false")
    assert proc.returncode == 1, proc.stderr
    assert f"{vm_name} kept for debugging" in proc.stderr
    dom = domains.lookup(api.host, vm_name)
    assert dom.state() == "running"
    assert api.exec(vm_name, ["true"]) == 0  # reachable for debugging
    assert json.loads(vmctl("gc", "--older-than", "1h", "--json").stdout)["removed"] == []
    assert domains.exists(api.host, vm_name)
    dry = json.loads(vmctl("gc", "--older-than", "0", "--dry-run", "--json").stdout)
    assert vm_name in dry["removed"] and domains.exists(api.host, vm_name)
    report = json.loads(vmctl("gc", "--older-than", "0", "--json").stdout)
    assert vm_name in report["removed"]
    assert left_behind(api, vm_name) == (False, [])


def test_bad_run_input_is_refused_before_anything_is_made(api, tiny, vm_name):
    for args, code in ((["run", "--name", vm_name], 3),                       # no command
                       (["run", "--name", vm_name, "--collect", "relative:x", "--", "true"], 3),
                       (["run", "--name", vm_name, "--memory", "nonsense", "--", "true"], 3),
                       (["run", "--name", vm_name, "--script", "/nonexistent/x.sh"], 3)):
        proc = vmctl(args[0], "--json", *args[1:])
        error = json.loads(proc.stdout.splitlines()[-1])["error"]
        assert proc.returncode == 255 and error["vmctl_exit_code"] == code, (args, proc.stdout, proc.stderr)
        assert left_behind(api, vm_name) == (False, [])


def test_a_disk_booted_image_runs_too(api, tiny, vm_name):
    """tinydisk boots from its disk (GRUB, q35 template), as a distro cloud image does."""
    proc = vmctl("run", "--name", vm_name, "--image", "tinydisk", "--json", "--", "cat", "/proc/cmdline")
    assert proc.returncode == 0, proc.stderr
    result = events(proc.stdout)[-1]["result"]
    assert result["outcome"] == "succeeded"
    assert left_behind(api, vm_name) == (False, [])
