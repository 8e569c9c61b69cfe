"""The test harness touches only what carries a test run's marker.

Its start-up sweep (vmctl/testing/marker.py) removes VMs carrying a dead run's marker
and repairs the half-made operations of names a dead run journaled; a user's VMs
named like test VMs, a live run's VMs, and a user's half-made operation stay.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
from pathlib import Path

from vmctl.api import Vmctl
from vmctl.testing.marker import OWNER_KEY, RUN_KEY, RunMarker, owner_of, owner_state, sweep_dead_runs
from vmctl.testing.pause import VMCTL, PausedVmctl
from vmctl.virt import domains
from vmctl.testing.ndjson import result

from tests.real.conftest import MARKER, new_vm_name


def _gone_process_owner() -> str:
    """The owner identity of a process that ran on this machine and has ended."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        owner = owner_of(proc.pid)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert owner_state(owner) == "dead"
    return owner


class Spy:
    """The API as the sweep sees it, noting what it asks to delete or repair."""

    def __init__(self, api: Vmctl) -> None:
        self.api, self.deleted, self.repaired = api, [], []

    def list(self, **kw):
        return self.api.list(**kw)

    def delete(self, name: str):
        self.deleted.append(name)
        return self.api.delete(name)

    def repair(self, name: str | None = None, **kw):
        if not kw.get("dry_run"):
            assert name is not None, "the sweep repaired the whole pool"
            self.repaired.append(name)
        return self.api.repair(name, **kw)


def test_sweep_removes_only_what_a_dead_run_marked(api: Vmctl, tiny, tmp_path: Path):
    dead = RunMarker(f"dead-{secrets.token_hex(3)}", _gone_process_owner())
    live_proc = subprocess.Popen(["sleep", "120"])
    live = RunMarker(f"live-{secrets.token_hex(3)}", owner_of(live_proc.pid))
    elsewhere = RunMarker(f"far-{secrets.token_hex(3)}", "000000000000." + dead.owner.split(".", 1)[1])
    assert owner_state(live.owner) == "alive" and owner_state(elsewhere.owner) == "unknown"

    # A user's VMs named like the harness's, without any marker: one made with vmctl
    # (t-deadbeef-like, with its volumes), and the two shapes the old harness deleted by
    # name (t-<6 hex>, t-web-1) defined directly through libvirt; a user's create killed
    # half-way (its record is dead).
    user_vmctl = f"t-{secrets.token_hex(4)}"
    user_libvirt = [f"t-{secrets.token_hex(3)}", f"t-web-{secrets.randbelow(10**6)}"]
    user_vms = [user_vmctl, *user_libvirt]
    user_half_made = f"t-{secrets.token_hex(3)}"
    # The harness's: a dead run's VM, a dead run's killed create (the name in its journal),
    # a live run's VM and one of a run on another machine.
    dead_vm, dead_half_made, live_vm, far_vm = (new_vm_name() for _ in range(4))
    made: list[str] = []
    try:
        with Vmctl() as user:  # no labels: as a user would
            assert user.labels == {}
            assert user.create(user_vmctl, start=False).labels == {}
            made.append(user_vmctl)  # only once it is ours: a user's VM of that name is never deleted here
            user_xml = {name: user.render(name, template="linux-direct") for name in user_libvirt}
        for marker, name in ((dead, dead_vm), (live, live_vm), (elsewhere, far_vm)):
            with Vmctl(labels=marker.labels) as v:
                assert v.create(name, start=False).labels == marker.labels
            made.append(name)
        # (creates first: every vmctl create finishes or undoes dead records in the pool)
        held = [PausedVmctl(["create", name, "--no-start"], "create:seed", tmp_path)  # both held, then
                for name in (user_half_made, dead_half_made)]                         # both killed: the
        made += [user_half_made, dead_half_made]      # second's own start-up sweep saw the first alive
        for h in held:
            h.stop(signal.SIGKILL)
        journals = tmp_path / "journals"
        journals.mkdir()
        (journals / f"{dead.run}.names").write_text(f"{dead.owner}\n{dead_vm}\n{dead_half_made}\n")
        (journals / f"{live.run}.names").write_text(f"{live.owner}\n{live_vm}\n")
        pool = api.pools.ensure()
        assert pool.has_volume(f"{user_half_made}.intent.json") and pool.has_volume(f"{dead_half_made}.intent.json")
        for name, xml in user_xml.items():
            domains.define(api.host, xml)
            made.append(name)

        spy = Spy(api)
        report = sweep_dead_runs(spy, journals, MARKER)

        assert not set(user_vms) & set(spy.deleted) and user_half_made not in spy.repaired

        assert report.problems == []
        assert dead_vm in report.deleted and not domains.exists(api.host, dead_vm)
        assert dead_half_made in report.repaired
        assert user_half_made not in report.repaired  # the user's to repair (vmctl's own sweep does), not the harness's
        pool.refresh()
        assert [v for v in pool.volume_names() if dead_half_made in v or dead_vm in v] == []
        for name in (*user_vms, live_vm, far_vm):  # untouched (those vmctl made: with their volumes)
            assert domains.exists(api.host, name), name
        for name in (user_vmctl, live_vm, far_vm):
            assert pool.has_volume(f"{name}-vda.qcow2"), name
        assert {live_vm, far_vm} <= set(report.kept) and not set(user_vms) & set(report.kept)
        assert not (journals / f"{dead.run}.names").exists() and (journals / f"{live.run}.names").exists()
        # list --label finds the harness's VMs by their marker
        assert [vm.name for vm in api.list(labels={RUN_KEY: live.run})] == [live_vm]
        assert {vm.name for vm in api.list(labels={OWNER_KEY: dead.owner})} == set()
    finally:
        live_proc.kill()
        live_proc.wait(timeout=10)
        for name in made:
            api.repair(name)
            if name in user_libvirt and domains.exists(api.host, name):
                domains.lookup(api.host, name).undefine()  # no volumes: delete would look for them
            elif domains.exists(api.host, name):
                api.delete(name)


def test_a_vm_made_by_a_vmctl_subprocess_carries_the_marker(api: Vmctl, tiny, vm_name):
    """The tests' CLI subprocesses inherit VMCTL_LABELS: what they make is marked too."""
    done = subprocess.run([*VMCTL, "create", vm_name, "--no-start", "--label", "role=cli", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert result(done.stdout)["labels"] == {**MARKER.labels, "role": "cli"}
    assert vm_name in {vm.name for vm in api.list(labels={RUN_KEY: MARKER.run})}
