"""Which VMs `exec --all-hosts` runs on and its exit status (api/fleet.py), pure."""

from __future__ import annotations

from vmctl.api.fleet import FleetExec, fleet_targets
from vmctl.api.hosts import HostListing
from vmctl.ops.fanout import FanOutSummary, VmOutcome


class Vm:
    def __init__(self, name: str, state: str) -> None:
        self.name, self.state = name, state


def test_targets_are_the_running_vms_of_the_hosts_that_answered_in_inventory_order():
    listings = [HostListing("b", "u2", (Vm("z", "running"), Vm("a", "running"), Vm("off", "shut off"))),  # type: ignore
                HostListing("a", "u1", (), "connection refused"),
                HostListing("c", "u3", (Vm("web", "running"),))]  # type: ignore
    targets, down = fleet_targets(listings)
    assert [(t.key, t.uri) for t in targets] == [("b/a", "u2"), ("b/z", "u2"), ("c/web", "u3")]
    assert down == [("a", "connection refused")]


def test_exit_status_a_failing_vm_then_vmctl_or_ssh_then_a_host_down():
    ok = FanOutSummary((VmOutcome("h/a", 0),))
    assert FleetExec([], ok).exit_status == 0
    assert FleetExec([("h2", "down")], ok).exit_status == 255  # the command did not run there
    assert FleetExec([], FanOutSummary((VmOutcome("h/a", 0), VmOutcome("h/b", 3)))).exit_status == 3
    assert FleetExec([], FanOutSummary((VmOutcome("h/a", 3), VmOutcome("h/b", 7, "ssh")))).exit_status == 255
    assert FleetExec([("h2", "down")], None).to_dict() == {"unreachable": [{"host": "h2", "error": "down"}], "vms": []}
