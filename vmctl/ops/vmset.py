"""`vmctl set NAME --cpus/--memory`: a VM's size, in its definition (from its next
start) and, where the running guest allows it, live (vCPU hot-plug up to the
running maximum, the memory balloon). Each change says which it got."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from vmctl.errors import InvalidInput, VmctlError
from vmctl.libvirtxml.facts import parse_domain
from vmctl.ops.safety.operation import Operation
from vmctl.ops.vms import VmInfo, info_of
from vmctl.policy.resources import check_fits
from vmctl.spec.names import check_name
from vmctl.virt import domains
from vmctl.virt.host import Host, memory_mib
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class SetChange:
    setting: str      # "cpus" or "memory_mib"
    value: int
    live: bool        # the running guest has it now
    note: str         # why not live, or "" (also for a VM that is off)


@dataclass(frozen=True)
class SetResult:
    info: VmInfo
    changes: list[SetChange]

    def to_dict(self) -> dict[str, object]:
        return {"vm": self.info.to_dict(), "changes": [asdict(c) for c in self.changes]}


def set_resources(host: Host, pool: Pool, name: str, *, cpus: int | None = None,
                  memory: int | None = None) -> SetResult:
    if cpus is None and memory is None:
        raise InvalidInput("nothing to set", hint="give --cpus N and/or --memory SIZE")
    with Operation(host, pool, "set", check_name(name)):
        dom = domains.lookup(host, name)
        facts = parse_domain(dom.xml(inactive=True))
        running = dom.is_active()
        available, total = memory_mib(host)
        held = facts.memory_mib if running else 0  # a running guest holds its memory already
        check_fits(memory_mib=memory or facts.memory_mib, vcpus=cpus or facts.vcpus, available_mib=available + held,
                   total_mib=total or host.facts().memory_mib, host_cpus=host.facts().cpus, what=name)
        changes = []
        for setting, value, apply in (("cpus", cpus, dom.set_vcpus), ("memory_mib", memory, dom.set_memory)):
            if value is None:
                continue
            apply(value, live=False)
            live, note = False, ""
            if running:
                live, note = _try_live(dom, setting, value)
            changes.append(SetChange(setting, value, live, note))
        return SetResult(info_of(host, dom), changes)


def _try_live(dom: domains.Domain, setting: str, value: int) -> tuple[bool, str]:
    max_cpus, max_mib = dom.live_limits()
    limit = max_cpus if setting == "cpus" else max_mib
    if value > limit:
        unit = "vCPUs" if setting == "cpus" else "MiB"
        return False, f"from the next start: the running guest's maximum is {limit} {unit}"
    try:
        if setting == "cpus":
            dom.set_vcpus(value, live=True)
        else:
            dom.set_memory(value, live=True)
    except VmctlError as exc:
        return False, f"from the next start: {exc.message}"
    return True, ""
