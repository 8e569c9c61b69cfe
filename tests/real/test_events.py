"""`vmctl events` on the real host: a VM's lifecycle as libvirt reports it, as NDJSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

VMCTL = [sys.executable, "-m", "vmctl"]


def test_events_of_one_vm_arrive_as_json_lines(api, tiny, vm_name):
    watcher = subprocess.Popen([*VMCTL, "events", vm_name, "--json", "--count", "6", "--timeout", "90"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        time.sleep(1.5)  # the watcher has registered (it prints nothing until an event comes)
        api.create(vm_name, wait_boot=True)   # defined; started paused, suspended, resumed (console attached)
        api.stop(vm_name, force=True)         # stopped (destroyed)
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    # QEMU's own "shutdown (host)" comes before "stopped" when libvirt destroys it
    assert [e["event"] for e in events if e["event"] != "shutdown"] == ["defined", "started", "suspended",
                                                                         "resumed", "stopped"], events
    assert {e["name"] for e in events} == {vm_name}
    assert events[-1]["detail"] == "destroyed" and events[0]["host"].startswith("qemu")
    assert all(e["time"].endswith("Z") and e["uuid"] for e in events)


def test_events_end_after_the_timeout_with_nothing_to_report(api, vm_name):
    started = time.monotonic()
    proc = subprocess.run([*VMCTL, "events", vm_name, "--timeout", "1"], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ))
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    assert time.monotonic() - started < 30  # bounded (the exact time is not the point)


def test_wait_json_streams_each_stage_then_the_result(api, tiny, vm_name):
    api.create(vm_name, wait_boot=True)
    proc = subprocess.run([*VMCTL, "wait", vm_name, "--json"], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    stages = [e["stage"] for e in lines[:-1]]
    assert stages == ["domain running", "address known", "port open", "SSH banner", "authenticated"]
    assert all(e["event"] == "stage" and e["seconds"] >= 0 for e in lines[:-1])
    assert lines[-1]["name"] == vm_name and list(lines[-1]["stages"]) == stages
