"""The parts of a stack's VM that are more than one value: readiness, placement,
provisioning, forwarded ports and labels; each read from its node of the stack file
(vmctl.spec.yamlnodes) with errors that name the file, line and key path."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from vmctl.errors import InvalidInput
from vmctl.spec.names import check_label, check_name
from vmctl.spec.ports import HINT as PORT_HINT
from vmctl.spec.ports import PortForward, parse_forward
from vmctl.spec.yamlnodes import Node

# The actions of a provisioning step (vmctl/provision/plan.py checks the steps themselves
# when they run; a unit test keeps the two lists equal).
STEP_ACTIONS = ("run", "script", "copy", "reboot", "wait_file", "wait_port")
MAX_TIMEOUT = 24 * 3600


@dataclass(frozen=True)
class Readiness:
    """When a VM counts as up, for the VMs that depend on it: ``ssh`` (vmctl can log in),
    ``port`` (a TCP port listens inside the guest) or ``file`` (a file exists in the
    guest). ``timeout`` in seconds, None: the default of the step that waits."""

    kind: str = "ssh"
    port: int | None = None
    path: str | None = None
    timeout: int | None = None


@dataclass(frozen=True)
class Placement:
    """Where a VM goes: a named host, or any host whose labels include all of
    ``labels`` (``zone=a,disk=ssd``). Neither: the connection vmctl is given."""

    host: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Provision:
    """How a VM is provisioned: a plan file (relative to the stack file's directory) or
    inline steps in the plan format (docs/stacks.md), as plain data for the provision
    layer to check and run."""

    plan: str | None = None
    steps: tuple[dict[str, Any], ...] = field(default=(), hash=False)


def parse_ready(node: Node) -> Readiness:
    hint = "ready: ssh, or ready: {port: 8080}, or ready: {file: /run/app.ready} (with timeout: SECONDS if needed)"
    if not node.is_mapping:
        if node.text("ssh, or a mapping with port or file", hint) != "ssh":
            raise node.expected("ssh, or a mapping with port or file", hint)
        return Readiness()
    keys = node.mapping(("port", "file", "timeout"), hint=hint)
    timeout = keys["timeout"].integer(f"a number of seconds from 1 to {MAX_TIMEOUT}", "e.g. timeout: 300",
                                      high=MAX_TIMEOUT) if "timeout" in keys else None
    if ("port" in keys) == ("file" in keys):
        raise node.error("give exactly one of port and file", hint)
    if "port" in keys:
        return Readiness("port", port=keys["port"].integer("a port from 1 to 65535", hint, high=65535),
                         timeout=timeout)
    path = keys["file"].text("an absolute path in the guest", hint)
    if not path.startswith("/") or not path.isprintable() or "\n" in path:
        raise keys["file"].expected("an absolute path in the guest", hint)
    return Readiness("file", path=path, timeout=timeout)


def parse_host(node: Node) -> Placement:
    """``host: NAME`` or ``host: KEY=VALUE[,KEY=VALUE...]`` (every label must match)."""
    hint = "host: NAME (a host of the inventory) or host: zone=a,disk=ssd (labels the host must have)"
    text = node.text("a host name or a label expression", hint).strip()
    if "=" not in text:
        try:
            return Placement(host=check_name(text, "host"))
        except InvalidInput as exc:
            raise node.error(exc.message, hint) from None
    pairs: dict[str, str] = {}
    for term in text.split(","):
        key, _eq, value = term.strip().partition("=")
        try:
            check_label(key, value)
        except InvalidInput as exc:
            raise node.error(f"{exc.message} in {text!r}", hint) from None
        if key in pairs:
            raise node.error(f"label {key} is given twice in {text!r}", hint)
        pairs[key] = value
    return Placement(labels=tuple(sorted(pairs.items())))


def parse_provision(node: Node) -> Provision:
    hint = "provision: setup.yaml (a plan file next to the stack file) or a list of steps: [{run: 'uname -a'}]"
    if not node.is_sequence:
        path = node.text("a plan file or a list of steps", hint)
        parts = PurePosixPath(path).parts
        if not path or path.startswith("/") or ".." in parts or not path.isprintable():
            raise node.error(f"plan file {path!r} must be a path inside the stack file's directory", hint)
        return Provision(plan=path)
    items = node.sequence()
    if not items:
        raise node.error("the list of steps is empty", hint)
    return Provision(steps=tuple(_step(item, hint) for item in items))


def _step(node: Node, hint: str) -> dict[str, Any]:
    keys = node.mapping(what="a step (a mapping)", hint=hint)
    actions = [key for key in keys if key in STEP_ACTIONS]
    if len(actions) != 1:
        problem = "has no action" if not actions else f"has several actions ({', '.join(actions)})"
        raise node.error(f"the step {problem}", f"each step does exactly one of: {', '.join(STEP_ACTIONS)}")
    return _plain(node)  # type: ignore[return-value]


def _plain(node: Node) -> Any:
    """A subtree as plain data, variables substituted in its strings."""
    if node.is_mapping:
        return {key: _plain(child) for key, child in node.mapping().items()}
    if node.is_sequence:
        return [_plain(item) for item in node.sequence()]
    return node.scalar()[0]


def parse_ports(node: Node) -> tuple[PortForward, ...]:
    forwards: list[PortForward] = []
    for item in node.sequence(hint=f'ports: ["8080:80"]; each is {PORT_HINT}'):
        text = item.literal("a port forward", PORT_HINT)
        try:
            forward = parse_forward(text)
        except InvalidInput as exc:
            raise item.error(exc.message, PORT_HINT) from None
        if forward.proto == "tcp" and forward.guest_port == 22:
            raise item.error("the guest's SSH port is forwarded by vmctl already",
                             "`vmctl ps` shows where; `vmctl ssh-config NAME` for ssh, scp and rsync")
        forwards.append(forward)
    return tuple(forwards)


def parse_labels(node: Node) -> tuple[tuple[str, str], ...]:
    hint = "labels: {role: web, tier: '1'}: keys like names, values up to 63 letters, digits, '.', '_', '-', ':'"
    pairs = []
    for key, child in node.mapping(hint=hint, null_ok=True).items():
        value = "" if child.is_null else child.literal("a label value", hint)
        if key.startswith("vmctl."):
            raise child.error(f"label {key} is vmctl's own", "vmctl. keys are reserved: choose another key")
        try:
            pairs.append(check_label(key, value))
        except InvalidInput as exc:
            raise child.error(exc.message, hint) from None
    return tuple(sorted(pairs))


def parse_subnet(node: Node) -> str:
    hint = "a private IPv4 network with room for hosts, e.g. subnet: 10.42.0.0/24"
    text = node.text("a subnet", hint)
    try:
        net = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise node.error(f"invalid subnet {text!r}: {exc}", hint) from None
    if net.version != 4 or not net.is_private or net.prefixlen > 29:
        raise node.error(f"subnet {text!r} is not a private IPv4 network of /29 or larger", hint)
    return str(net)
