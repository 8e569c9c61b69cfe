"""What `vmctl up` does to bring the VMs on a host in line with a stack file: pure,
from the stack and the VMs that exist (labels, sizes, image), decided before anything
is changed so that `--dry-run` shows exactly what a real run would do.

Every VM a stack makes carries two labels: ``vmctl.stack`` (the stack's name) and
``vmctl.stack.vm`` (its entry in ``vms:``). A VM of a listed name without them is
someone else's: up refuses the whole stack rather than take it over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from vmctl.errors import Conflict
from vmctl.policy.stacknet import NET_LABEL_PREFIX, Attachment
from vmctl.spec.stack import Stack, VmSpec, order

STACK_LABEL = "vmctl.stack"
ENTRY_LABEL = "vmctl.stack.vm"


@dataclass(frozen=True)
class Existing:
    """A VM on the host, as far as the plan cares."""

    name: str
    labels: tuple[tuple[str, str], ...]
    vcpus: int
    memory_mib: int
    image: str | None


@dataclass(frozen=True)
class Action:
    """One VM's fate: ``create``, ``keep`` (it matches), ``differs`` (left as it is; ``detail``
    says how and what would change it) or ``orphan`` (the stack's, no longer in the file)."""

    kind: str
    vm: str
    entry: str
    layer: int
    detail: str = ""
    host: str = ""       # the inventory host it is on or goes to ("": the connection vmctl was given)

    def to_dict(self) -> dict[str, object]:
        return {"action": self.kind, "vm": self.vm, "entry": self.entry, "layer": self.layer, "detail": self.detail,
                "host": self.host}


def stack_labels(stack: Stack, spec: VmSpec) -> dict[str, str]:
    """The labels a VM of this entry carries: the entry's own and the stack's two."""
    return {**dict(spec.labels), STACK_LABEL: stack.name, ENTRY_LABEL: spec.name}


def plan_up(stack: Stack, existing: list[Existing]) -> list[Action]:
    """The actions in dependency order (layer by layer; within a layer, file order)."""
    by_name = {vm.name: vm for vm in existing}
    entry_of = {instance: spec for spec in stack.vms for instance in spec.instances()}
    actions: list[Action] = []
    for layer, names in enumerate(order(stack)):
        for name in names:
            spec = entry_of[name]
            vm = by_name.get(name)
            if vm is None:
                actions.append(Action("create", name, spec.name, layer))
                continue
            labels = dict(vm.labels)
            if labels.get(STACK_LABEL) != stack.name or labels.get(ENTRY_LABEL) != spec.name:
                owner = f"stack {labels[STACK_LABEL]!r}" if STACK_LABEL in labels else "no stack"
                raise Conflict(f"{stack.source}: VM {name} exists and belongs to {owner}, not to stack "
                               f"{stack.name!r}", hint=f"rename the entry, or remove that VM (`vmctl delete {name}`) "
                               "if it is not needed; nothing was changed")
            differences = _differences(spec, vm)
            actions.append(Action("differs", name, spec.name, layer, "; ".join(differences)) if differences
                           else Action("keep", name, spec.name, layer))
    listed = set(entry_of)
    for vm in existing:
        labels = dict(vm.labels)
        if labels.get(STACK_LABEL) == stack.name and vm.name not in listed:
            actions.append(Action("orphan", vm.name, labels.get(ENTRY_LABEL, ""), -1,
                                  "not in the file any more: left running (`vmctl down` removes the whole stack, "
                                  f"`vmctl delete {vm.name}` this VM)"))
    return actions


def _differences(spec: VmSpec, vm: Existing) -> list[str]:
    found = []
    if spec.cpus is not None and spec.cpus != vm.vcpus:
        found.append(f"cpus {vm.vcpus}, the file says {spec.cpus} (`vmctl set {vm.name} --cpus {spec.cpus}`)")
    if spec.memory_mib is not None and spec.memory_mib != vm.memory_mib:
        found.append(f"memory {vm.memory_mib} MiB, the file says {spec.memory_mib} MiB "
                     f"(`vmctl set {vm.name} --memory {spec.memory_mib}M`)")
    wanted_image = spec.image or "tiny"
    if vm.image is not None and vm.image != wanted_image:
        found.append(f"image {vm.image}, the file says {wanted_image} (only a new VM changes it: "
                     f"`vmctl delete {vm.name}`, then `vmctl up`)")
    return found


def network_differences(actions: list[Action], nics: Mapping[str, list[Attachment]],
                        labels: Mapping[str, Mapping[str, str]]) -> list[Action]:
    """A VM that exists without a NIC on one of its entry's networks (the network was added
    to the file later) differs: only a new VM gets it. Its address label says it has one."""
    result = []
    for action in actions:
        missing = [nic.net.entry for nic in nics.get(action.vm, []) if action.kind in ("keep", "differs")
                   and NET_LABEL_PREFIX + nic.net.entry not in labels.get(action.vm, {})]
        if missing:
            detail = "; ".join(filter(None, [action.detail, f"not on network {', '.join(missing)} (only a new VM "
                                             f"gets it: `vmctl delete {action.vm}`, then `vmctl up`)"]))
            action = replace(action, kind="differs", detail=detail)
        result.append(action)
    return result
