"""A stack: a group of VMs (and private networks between them) described in one YAML
file, version 1 of the schema (docs/stacks.md is its reference). Pure: the text in, a
checked model out; every problem is an InvalidInput naming the file, line and key path.

Replicas: a VM with ``count: N`` stands for the VMs ``NAME-1`` .. ``NAME-N``; without
``count`` it is the one VM ``NAME`` (so ``count: 1`` is ``NAME-1``, and raising the count
later adds VMs without renaming any)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass

from vmctl.errors import InvalidInput
from vmctl.spec.names import check_name
from vmctl.spec.ports import PortForward
from vmctl.spec.stackparts import (Placement, Provision, Readiness, parse_host, parse_labels, parse_ports,
                                   parse_provision, parse_ready, parse_subnet)
from vmctl.spec.units import MiB, parse_size
from vmctl.spec.yamlnodes import Node, compose

VERSION = 1
MAX_COUNT = 64
TOP_KEYS = ("version", "name", "vms", "networks")
VM_KEYS = ("image", "template", "cpus", "memory", "disk", "count", "ports", "provision", "ready", "depends_on",
           "networks", "host", "labels", "internet")
NETWORK_KEYS = ("subnet",)


@dataclass(frozen=True)
class NetworkSpec:
    """A private network between the stack's VMs; ``subnet`` None: vmctl picks one."""

    name: str
    subnet: str | None = None


@dataclass(frozen=True)
class VmSpec:
    """One entry of ``vms:``. Sizes None: the template's (or image's) defaults."""

    name: str
    image: str | None = None
    template: str | None = None        # a template name, or a path (has '/' or ends in .xml)
    cpus: int | None = None
    memory_mib: int | None = None
    disk_bytes: int | None = None
    count: int | None = None           # None: one VM called `name`; N: name-1 .. name-N
    ports: tuple[PortForward, ...] = ()
    provision: Provision | None = None
    ready: Readiness = Readiness()
    depends_on: tuple[str, ...] = ()   # names of other entries of vms:
    networks: tuple[str, ...] = ()     # names of the stack's networks
    host: Placement | None = None
    labels: tuple[tuple[str, str], ...] = ()
    internet: bool = False

    def instances(self) -> tuple[str, ...]:
        """The concrete VM names this entry stands for."""
        if self.count is None:
            return (self.name,)
        return tuple(f"{self.name}-{index}" for index in range(1, self.count + 1))


@dataclass(frozen=True)
class Stack:
    name: str
    version: int
    vms: tuple[VmSpec, ...]
    networks: tuple[NetworkSpec, ...]
    source: str                        # the file, as messages name it

    def vm(self, name: str) -> VmSpec:
        """The entry called ``name`` (an entry's name, not a replica's)."""
        for spec in self.vms:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def instances(self) -> dict[str, VmSpec]:
        """Every concrete VM name of the stack, in file order, with its entry."""
        return {name: spec for spec in self.vms for name in spec.instances()}


def order(stack: Stack) -> list[list[str]]:
    """Dependency layers of concrete VM names: every VM comes in a later layer than all it
    depends on, as early as that allows; the VMs of one layer may be made in parallel.
    Replicas share their entry's layer; within a layer, file order."""
    level: dict[str, int] = {}

    def of(spec: VmSpec) -> int:
        if spec.name not in level:
            level[spec.name] = 1 + max((of(stack.vm(dep)) for dep in spec.depends_on), default=-1)
        return level[spec.name]

    layers: list[list[str]] = []
    for spec in stack.vms:
        index = of(spec)
        while len(layers) <= index:
            layers.append([])
        layers[index].extend(spec.instances())
    return layers


def parse_stack(text: str, source: str, env: Mapping[str, str], *, default_name: str | None = None) -> Stack:
    """The checked model of a stack file's ``text``. ``source`` names the file in messages;
    ``env`` gives the variables; ``default_name`` is the stack's name when the file has no
    ``name:`` (load_stack passes the file's directory name)."""
    root = compose(text, source, env)
    top = root.mapping(TOP_KEYS, what="a mapping of version, name, vms and networks",
                       hint="a stack file starts with `version: 1`")
    _check_version(root, top)
    name = _stack_name(root, top, default_name)
    networks = tuple(_network(key, node) for key, node in
                     top["networks"].mapping(hint="networks: {lan: {}}", null_ok=True).items()) \
        if "networks" in top else ()
    if "vms" not in top:
        raise root.error("no vms: the stack has nothing to make", "add vms: with at least one VM")
    entries = top["vms"].mapping(what="a mapping of VM names to their settings", hint="vms: {web: {image: tiny}}")
    if not entries:
        raise top["vms"].error("no VMs", "add at least one VM under vms:")
    vms = tuple(_vm(key, node, {net.name for net in networks}) for key, node in entries.items())
    _check_names(vms, entries)
    _check_depends(vms, entries)
    _check_ports(vms, entries)
    return Stack(name=name, version=VERSION, vms=vms, networks=networks, source=source)


def _check_version(root: Node, top: dict[str, Node]) -> None:
    hint = f"start the file with `version: {VERSION}`"
    if "version" not in top:
        raise root.error("no version", hint)
    node = top["version"]
    value, _ = node.scalar()
    if not isinstance(value, int) or isinstance(value, bool):
        raise node.expected("a version number", hint)
    if value != VERSION:
        raise node.error(f"version {value} is not known to this vmctl (it reads version {VERSION})",
                         f"write the file for version {VERSION} (docs/stacks.md), or upgrade vmctl")


def _stack_name(root: Node, top: dict[str, Node], default: str | None) -> str:
    if "name" in top:
        node = top["name"]
        return _name(node, node.text("a stack name", "e.g. name: shop"), "stack")
    if default is None:
        raise root.error("no name", "add name: NAME")
    try:
        return check_name(default, "stack")
    except InvalidInput:
        raise root.error(f"no name, and the directory's name {default!r} is not a valid stack name",
                         "add name: NAME (lowercase letters, digits, '.', '_', '-')") from None


def _name(node: Node, name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except InvalidInput as exc:
        raise node.error(exc.message, exc.hint) from None


def _network(name: str, node: Node) -> NetworkSpec:
    _name(node, name, "network")
    keys = node.mapping(NETWORK_KEYS, hint="lan: {subnet: 10.42.0.0/24}, or lan: {}", null_ok=True)
    return NetworkSpec(name, parse_subnet(keys["subnet"]) if "subnet" in keys else None)


def _vm(name: str, node: Node, networks: set[str]) -> VmSpec:
    _name(node, name, "VM")
    keys = node.mapping(VM_KEYS, hint="e.g. web: {image: tiny, cpus: 2, memory: 512M}", null_ok=True)
    fields: dict[str, object] = {}
    for key in ("image", "template"):
        if key in keys:
            value = keys[key].text(f"{'an image' if key == 'image' else 'a template'} name", f"e.g. {key}: tiny")
            is_path = key == "template" and ("/" in value or value.endswith(".xml"))
            fields[key] = value if is_path else _name(keys[key], value, key)
    if "cpus" in keys:
        fields["cpus"] = keys["cpus"].integer("a positive integer", "e.g. cpus: 2")
    if "memory" in keys:
        fields["memory_mib"] = _size(keys["memory"], "memory", "MiB") // MiB
    if "disk" in keys:
        fields["disk_bytes"] = _size(keys["disk"], "disk size", "GiB")
    if "count" in keys:
        fields["count"] = keys["count"].integer(f"a count from 1 to {MAX_COUNT}", "e.g. count: 2", high=MAX_COUNT)
    parsers = {"ports": parse_ports, "provision": parse_provision, "ready": parse_ready, "host": parse_host,
               "labels": parse_labels}
    fields.update((key, parse(keys[key])) for key, parse in parsers.items() if key in keys)
    if "internet" in keys:
        fields["internet"] = keys["internet"].boolean("true or false", "internet: true gives the VM a route out")
    for key, known, what in (("depends_on", None, "VM"), ("networks", networks, "network")):
        if key in keys:
            fields[key] = _references(keys[key], known, what)
    return VmSpec(name=name, **fields)  # type: ignore[arg-type]


def _size(node: Node, what: str, unit: str) -> int:
    hint = f"a number with a binary unit, e.g. 512M or 2G (a bare number is in {unit})"
    value, substituted = node.scalar()
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise node.expected(f"a {what}", hint)
    try:
        size = parse_size(value, default_unit=unit, what=what)
    except InvalidInput as exc:
        raise node.error(exc.message, hint) from None
    if what == "memory" and size < MiB:
        raise node.error(f"memory {value!r} is less than 1 MiB", hint)
    return size


def _references(node: Node, known: set[str] | None, what: str) -> tuple[str, ...]:
    """A list of names; with ``known``, each must be one of them (VM names are checked once
    all entries are read)."""
    names: list[str] = []
    for item in node.sequence(hint=f"a list of {what} names: [a, b]"):
        name = _name(item, item.text(f"a {what} name", f"a list of {what} names: [a, b]"), what)
        if name in names:
            raise item.error(f"{what} {name} is listed twice", "list each once")
        if known is not None and name not in known:
            raise item.error(f"no {what} {name} is declared", _suggest(name, known, "networks: {NAME: {}}"))
        names.append(name)
    return tuple(names)


def _suggest(name: str, known: set[str] | list[str], fallback: str) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"declared: {', '.join(sorted(known))}" if known else f"declare it first: {fallback}"


def _check_names(vms: tuple[VmSpec, ...], entries: dict[str, Node]) -> None:
    """No two concrete VM names alike once replicas are expanded."""
    owner: dict[str, str] = {}
    for spec in vms:
        for name in spec.instances():
            _name(entries[spec.name], name, "VM")  # NAME-64 may be too long
            if name in owner:
                other = owner[name]
                raise entries[spec.name].error(
                    f"VM name {name} is also made by vms.{other} (line {entries[other].line})",
                    "rename one: a VM with count: N is NAME-1 .. NAME-N")
            owner[name] = spec.name


def _check_depends(vms: tuple[VmSpec, ...], entries: dict[str, Node]) -> None:
    names = [spec.name for spec in vms]
    for spec in vms:
        for index, dep in enumerate(spec.depends_on):
            if dep not in entries:
                node = entries[spec.name].mapping()["depends_on"].sequence()[index]
                raise node.error(f"no VM {dep} in this stack", _suggest(dep, names, "vms: {NAME: {}}"))
    graph = {spec.name: spec.depends_on for spec in vms}
    done: set[str] = set()
    for start in names:
        cycle = _cycle(start, graph, done, [])
        if cycle:
            first = min(cycle[:-1], key=names.index)  # name the cycle from its earliest VM in the file
            at = cycle.index(first)
            cycle = cycle[at:-1] + cycle[:at] + [first]
            node = entries[first].mapping()["depends_on"]
            raise node.error(f"a cycle: {' -> '.join(cycle)}", "remove one of these dependencies")


def _cycle(name: str, graph: dict[str, tuple[str, ...]], done: set[str], path: list[str]) -> list[str]:
    """A dependency cycle reachable from ``name`` as [a, b, ..., a]; [] if none."""
    if name in path:
        return path[path.index(name):] + [name]
    if name in done:
        return []
    path.append(name)
    for dep in graph[name]:
        if found := _cycle(dep, graph, done, path):
            return found
    path.pop()
    done.add(name)
    return []


def _check_ports(vms: tuple[VmSpec, ...], entries: dict[str, Node]) -> None:
    """No host port forwarded twice: replicas would all forward the same one."""
    used: dict[tuple[int, str], list[tuple[str, str]]] = {}
    for spec in vms:
        if spec.ports and spec.count is not None and spec.count > 1:
            raise entries[spec.name].mapping()["ports"].error(
                f"{spec.count} replicas cannot all forward the same host ports",
                "forward ports from a VM without count (or count: 1); replicas reach each other on a network")
        for index, forward in enumerate(spec.ports):
            for addr, other in used.get((forward.host_port, forward.proto), []):
                if "0.0.0.0" in (addr, forward.host_addr) or addr == forward.host_addr:
                    node = entries[spec.name].mapping()["ports"].sequence()[index]
                    raise node.error(f"host port {forward.host_port}/{forward.proto} is already forwarded by "
                                     f"vms.{other}", "use another host port")
            used.setdefault((forward.host_port, forward.proto), []).append((forward.host_addr, spec.name))
