"""Placement and `vmctl host drain` on a three-host lab (issue 16, items 5 and 6): the
inventory names the lab's hosts; `create --host auto --dry-run` says which host and why
for every host; a drain of lab1 moves a running VM (live, shared storage: it runs on its
destination) and a shut-off one (offline: defined there, shut off), and reports a VM
whose disk only lab1 sees (local pool, no --copy-storage) as staying, still running;
a second drain with --copy-storage continues and empties lab1; placement then never
picks lab1 until `host undrain`; `create --host auto` then makes the VM where it says."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from vmctl.api import Vmctl
from vmctl.cli.app import run as cli
from vmctl.testing.lab.testlab import LabView, migration_lab
from tests.real.conftest import MARKER, new_vm_name

HOSTS = ("lab1", "lab2", "lab3")


@pytest.fixture(scope="module")
def lab(api: Vmctl) -> Iterator[LabView]:
    with migration_lab(3) as view, pytest.MonkeyPatch.context() as mp:
        mp.setenv("VMCTL_LAB_DIR", str(view.lab.root))  # known hosts, as after `vmctl lab up`
        yield view


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def placed(capsys) -> dict:
    code, out, err = run_cli(capsys, "create", "unused", "--host", "auto", "--dry-run", "--json")
    assert code == 0, err
    return json.loads(out)


def test_placement_and_a_drain_of_a_host_with_a_running_and_a_shut_off_vm(lab: LabView, tmp_path, monkeypatch,
                                                                            capsys):
    monkeypatch.setenv("VMCTL_HOSTS", str(tmp_path / "hosts.yaml"))
    monkeypatch.setenv("VMCTL_POOL", "shared")  # placement counts the shared pool's space
    for host in HOSTS:
        assert run_cli(capsys, "host", "add", host, lab.host(host).uri)[0] == 0
    base = new_vm_name()
    running, off, local, new = f"{base}-run", f"{base}-off", f"{base}-local", f"{base}-new"
    try:
        with Vmctl(lab.host("lab1").uri, pool="shared", labels=MARKER.labels) as lab1:
            lab1.create(running)
            lab1.create(off, start=False)
        with Vmctl(lab.host("lab1").uri, pool="vmctl", labels=MARKER.labels) as lab1_local:
            lab1_local.create(local)

        choice = placed(capsys)  # nothing drained: every host fits, each says why
        assert choice["host"] in HOSTS and choice["weigher"] == "spread"
        assert {h["host"]: h["fits"] for h in choice["hosts"]} == dict.fromkeys(HOSTS, True)
        assert all(h["reason"].startswith("fits: ") for h in choice["hosts"])
        code, out, _err = run_cli(capsys, "create", "unused", "--host", "auto", "--dry-run")
        assert code == 0 and out.startswith("placed on lab") and "dry run: nothing was made" in out
        assert not any("unused" in lab.domains(h) for h in HOSTS)

        # the plan: nothing changes, not even the flag
        code, out, err = run_cli(capsys, "host", "drain", "lab1", "--dry-run")
        assert code == 0, err
        plan = {ln.split()[1]: ln for ln in out.splitlines() if ln.startswith("plan ")}
        assert "(live, shared storage)" in plan[running] and "spread: most memory free" in plan[running]
        assert "(offline, shared storage)" in plan[off]
        # refused by the pre-flight on each other host in turn (each tried once), then it stays
        assert "stays: " in plan[local] and plan[local].count("the destination cannot see") == 2
        assert "lab2: " in plan[local] and "lab3: " in plan[local]
        assert "nothing was changed (not even the drained flag)" in out
        assert json.loads(run_cli(capsys, "host", "ls", "--json")[1])["hosts"][0]["drained"] is False
        assert set(lab.domains("lab1")) >= {running, off, local}

        # the drain (two at a time): the two move, the local one stays running (exit 13: a VM stayed)
        code, out, err = run_cli(capsys, "host", "drain", "lab1", "--parallel", "2")
        assert code == 13, (out, err)
        assert f"moved  {running} -> lab" in out and f"moved  {off} -> lab" in out
        assert f"1 VM(s) stayed on lab1: {local}: " in err and "the destination cannot see" in err
        (dest_run,), (dest_off,) = lab.where(running), lab.where(off)
        assert {dest_run, dest_off} <= {"lab2", "lab3"} and dest_run != dest_off  # spread: one each
        assert lab.domains(dest_run)[running] == ("running", True)
        assert lab.domains(dest_off)[off] == ("shut-off", True)
        assert lab.domains("lab1") == {local: ("running", True)}
        assert json.loads(run_cli(capsys, "host", "ls", "--json")[1])["hosts"][0]["drained"] is True

        choice = placed(capsys)  # a drained host is never chosen
        assert choice["host"] in ("lab2", "lab3")
        assert {h["host"]: h["reason"] for h in choice["hosts"]}["lab1"] == "drained"
        monkeypatch.setenv("VMCTL_POOL", "vmctl")  # (migrate goes through the pool of the VM's disks)
        code, out, err = run_cli(capsys, "-H", "lab1", "migrate", local, "auto", "--dry-run", "--copy-storage")
        assert code == 0, err
        assert re.search(r"^placed on lab[23]: spread: ", err, re.M) and "dry run: all" in out
        monkeypatch.setenv("VMCTL_POOL", "shared")

        # a second drain continues: the moved VMs are not there, the local one is copied
        code, out, err = run_cli(capsys, "host", "drain", "lab1", "--copy-storage", "--json")
        assert code == 0, err
        report = json.loads(out)
        assert [(s["vm"], s["outcome"], s["storage"]) for s in report["steps"]] == [(local, "moved", "copy")]
        assert lab.domains("lab1") == {}
        assert lab.domains(lab.where(local)[0])[local] == ("running", True)

        code, out, _err = run_cli(capsys, "host", "undrain", "lab1")
        assert code == 0 and "no longer drained" in out
        assert {h["host"]: h["fits"] for h in placed(capsys)["hosts"]}["lab1"] is True

        # not a dry run: made on the chosen host, as `-H HOST create` would
        code, out, err = run_cli(capsys, "create", new, "--host", "auto", "--place", "pack", "--no-start")
        assert code == 0, err
        chosen = re.match(r"placed on (lab\d): pack: least memory free after placing", out)
        assert chosen and lab.where(new) == [chosen.group(1)]
    finally:
        for vm in (running, off, local, new):
            for host in lab.where(vm):
                with Vmctl(lab.host(host).uri, pool="vmctl" if vm == local else "shared") as v:
                    v.delete(vm)
