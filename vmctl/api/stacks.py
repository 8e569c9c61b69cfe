"""Stacks on one host (issue 16, first part): `up` brings the host in line with a stack
file, layer by layer in dependency order, the VMs of a layer in parallel (bounded);
`down` removes exactly the stack's VMs; `ps` lists them. What up decides is
:mod:`vmctl.policy.stackplan`; the file is :mod:`vmctl.spec.stack`.

A re-run continues where a failed or killed run stopped: a VM that exists and matches
is kept, started if it is off, and provisioned again (completed steps are skipped, as
their record is in the VM's metadata), and its missing port forwards are added. Every
create is all or nothing on its own (see ``Vmctl.create``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.errors import InvalidInput, VmctlError

if TYPE_CHECKING:
    from vmctl.api import Vmctl
    from vmctl.api.stackhosts import StackHosts
    from vmctl.ops.backup import BackupResult
    from vmctl.ops.fanout import FanOutSummary
    from vmctl.ops.vms import VmInfo
    from vmctl.policy.stacknet import Attachment
    from vmctl.policy.stackplan import Action
    from vmctl.spec.stack import Stack, VmSpec

StackEvent = Callable[[dict[str, object]], None]


def load_stack(path: "str | Path", env: "Mapping[str, str] | None" = None) -> "Stack":
    """The checked stack file at ``path`` (or ``path/stack.yaml``), variables from ``env``
    (default: this process's environment); errors name the file, line and key."""
    import os

    from vmctl.local.stackfile import load_stack as load

    return load(Path(path), os.environ if env is None else env)


@dataclass
class UpResult:
    """What `up` did: the plan's actions and, per VM, what happened."""

    stack: str
    actions: list["Action"]
    dry_run: bool = False
    done: dict[str, str] = field(default_factory=dict)  # VM -> created | kept | failed: ...

    def to_dict(self) -> dict[str, object]:
        return {"stack": self.stack, "dry_run": self.dry_run, "actions": [a.to_dict() for a in self.actions],
                "done": dict(self.done)}


@dataclass
class DownResult:
    """What `down` did: the VMs removed and, per VM, the volume paths kept (``keep_disks``)."""

    stack: str
    removed: list[str] = field(default_factory=list)
    kept: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"stack": self.stack, "removed": list(self.removed), "kept": dict(self.kept)}


@dataclass
class StackBackup:
    """`backup --stack`: each VM's outcome (``summary``) and its backup when it was made."""

    stack: str
    summary: "FanOutSummary"
    backups: dict[str, "BackupResult"] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {"stack": self.stack, "vms": [
            {"name": o.name, "error": o.error, "exit_status": o.exit_status,
             "backup": self.backups[o.name].to_dict() if o.name in self.backups else None}
            for o in self.summary.outcomes]}


class StackApi:
    """Mixed into :class:`vmctl.api.Vmctl`."""

    def stack_plan(self: "Vmctl", stack: "Stack") -> list["Action"]:
        """What :meth:`stack_up` would do, decided from the VMs on the stack's hosts; nothing
        of the stack changes (operations killed earlier are finished or undone first, as
        before any create). Refuses (before anything) unknown images and hosts, and VMs of
        the same names that are not the stack's."""
        from vmctl.api.stackstate import open_hosts, plan_stack

        hosts = open_hosts(self, stack)
        try:
            return plan_stack(hosts, stack).actions
        finally:
            hosts.close()

    def stack_up(self: "Vmctl", stack: "Stack", *, base: Path, dry_run: bool = False, parallel: int = 4,
                 insecure: bool = False, on_event: StackEvent | None = None) -> UpResult:
        """Create what is missing in dependency order (a layer's VMs in parallel, at most
        ``parallel`` at once), provision and wait until each is ready before the next layer;
        keep what matches; report what differs and leave it. ``base``: the stack file's
        directory (plan files are relative to it). The first layer with a failure is
        finished, then the error of its first failed VM is raised; what was made stays,
        and a re-run continues."""
        from vmctl.api.stackstate import open_hosts

        hosts = open_hosts(self, stack)
        try:
            return self._stack_up(hosts, stack, base, dry_run, parallel, insecure, on_event or (lambda _event: None))
        finally:
            hosts.close()

    def _stack_up(self: "Vmctl", hosts: "StackHosts", stack: "Stack", base: Path, dry_run: bool, parallel: int,
                  insecure: bool, say: StackEvent) -> UpResult:
        from vmctl.api.stackstate import plan_stack
        from vmctl.ops.stacknet import ensure_networks

        state = plan_stack(hosts, stack)
        actions, nics = state.actions, state.nics
        result = UpResult(stack.name, actions, dry_run)
        for action in actions:
            say({"event": "plan", **action.to_dict()})
        if dry_run:
            return result
        for host, nets in state.net_hosts.items():
            for made in ensure_networks(hosts.api(host).host, stack.name, nets):
                say({"event": "network", "vm": made, "message": "made", "host": host})
        layers = sorted({a.layer for a in actions if a.layer >= 0})
        for layer in layers:
            todo = [a for a in actions if a.layer == layer and a.kind in ("create", "keep", "differs")]
            with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(todo)))) as pool:
                outcomes = list(pool.map(lambda a: self._bring_up(hosts.worker(a.host), stack, a, nics, base,
                                                                  insecure, say), todo))
            failures = [(a, error) for a, error in zip(todo, outcomes) if error is not None]
            for action, error in zip(todo, outcomes):
                result.done[action.vm] = ("failed: " + error.message) if error is not None else (
                    "created" if action.kind == "create" else "kept")
            if failures:
                action, error = failures[0]
                error.hint = (error.hint + "; " if error.hint else "") + (
                    f"stack {stack.name}: stopped after layer {layer}; `vmctl up` again continues")
                raise error
        return result

    @staticmethod
    def _bring_up(api: "Vmctl", stack: "Stack", action: "Action", nics: dict[str, list["Attachment"]], base: Path,
                  insecure: bool, say: StackEvent) -> VmctlError | None:
        """One VM of a layer, on its own connection ``api`` to its host (a worker thread;
        closed here)."""
        from vmctl.policy.stacknet import address_labels
        from vmctl.policy.stackplan import stack_labels

        spec = stack.vm(action.entry)
        mine = nics.get(action.vm, [])
        try:
            if action.kind == "create":
                say({"event": "creating", "vm": action.vm, "host": action.host})
                api.create(action.vm, image=spec.image, template=spec.template, cpus=spec.cpus,
                           memory=spec.memory_mib, disk=spec.disk_bytes, internet=spec.internet,
                           labels={**stack_labels(stack, spec), **address_labels(mine)},
                           attach=tuple((nic.net.name, nic.mac) for nic in mine),
                           wait_boot=True, wait_ssh=True, insecure=insecure)
            elif api.info(action.vm).state != "running":
                say({"event": "starting", "vm": action.vm})
                api.start(action.vm, wait_boot=True)
                api.wait(action.vm, until="ssh", insecure=insecure)
            if stack.networks:
                _configure_networks(api, stack, action.vm, nics, insecure)
            _add_ports(api, action.vm, spec)
            _provision(api, stack, spec, action.vm, base, insecure)
            _wait_ready(api, stack, spec, action.vm, insecure)
            say({"event": "ready", "vm": action.vm, "action": action.kind})
            return None
        except VmctlError as error:
            say({"event": "failed", "vm": action.vm, "message": error.message})
            return error
        finally:
            api.close()

    def stack_down(self: "Vmctl", name: str, *, keep_disks: bool = False,
                   on_note: Callable[[str], None] | None = None) -> "DownResult":
        """Delete every VM of stack ``name`` (and the volumes they own, or with ``keep_disks``
        all but their CD-ROMs: the disks stay in the pool, listed in the result's ``kept``),
        then its networks, on this host and on every host of the inventory. Only objects
        carrying the stack's label are touched. A host that cannot be reached is skipped and
        named in the HostError raised at the end (run down again when it is back)."""
        from vmctl.ops.stacknet import remove_networks
        from vmctl.policy.stackplan import STACK_LABEL

        note = on_note or (lambda _text: None)
        hosts = _fleet(self)
        result = DownResult(name)
        try:
            for host in hosts.names():
                api = hosts.api(host)
                for vm in sorted(api.list(labels={STACK_LABEL: name}), key=lambda v: v.name, reverse=True):
                    deleted = api.vms.remove(vm.name, keep_disks=keep_disks, on_note=on_note)
                    result.removed.append(vm.name)
                    if deleted.kept:
                        result.kept[vm.name] = deleted.kept
                for network in remove_networks(api.host, name):  # after the VMs: none of them uses one any more
                    note(f"removed network {network}" + (f" on {host}" if host else ""))
        finally:
            hosts.close()
        _raise_unreachable(hosts.unreachable, f"stack {name}: removed {', '.join(result.removed) or 'nothing'}",
                           "down")
        return result

    def stack_members(self: "Vmctl", name: str, *, on_note: Callable[[str], None] | None = None) -> list[str]:
        """The names of stack ``name``'s VMs on this host, for a command meant for all of
        them (exec, cp, backup, snapshot --stack). InvalidInput when it has none here, or
        when the inventory's other hosts have some too (the command would quietly miss
        them); a host that does not answer within 10 s is told to ``on_note``."""
        found = _stack_vms(self, name, timeout=10.0)
        for host, why in found.unreachable.items():
            (on_note or (lambda _text: None))(f"host {host}: unreachable: {why} (its VMs of stack {name}, if any, "
                                              "are not included)")
        names = sorted(vm.name for vm in found.vms[found.here])
        elsewhere = {host: sorted(vm.name for vm in vms) for host, vms in found.vms.items()
                     if host != found.here and vms}
        if elsewhere:
            where = "; ".join(f"{host}: {', '.join(vms)}" for host, vms in elsewhere.items())
            raise InvalidInput(f"stack {name!r} has VMs on other hosts too ({where}), and this command acts on one "
                               "host's", hint=f"`vmctl exec --all-hosts --stack {name} -- CMD` runs on all of them; "
                               "`vmctl -H HOST ...` acts on one host's VMs")
        if not names:
            raise InvalidInput(f"stack {name!r} has no VM on this host", hint="see `vmctl ps --name STACK`")
        return names

    def stack_ps(self: "Vmctl", name: str, *, on_note: Callable[[str], None] | None = None) -> list["VmInfo"]:
        """The VMs of stack ``name`` on this host and every host of the inventory, with their
        state, host, addresses (those on the stack's networks too) and SSH endpoint. A host
        that cannot be reached is told to ``on_note``."""
        from dataclasses import replace

        from vmctl.policy.stacknet import NET_LABEL_PREFIX

        def private(vm: "VmInfo", host: str) -> "VmInfo":
            mine = [f"{address} ({key[len(NET_LABEL_PREFIX):]})" for key, address in sorted(vm.labels.items())
                    if key.startswith(NET_LABEL_PREFIX)]
            return replace(vm, addresses=[*vm.addresses, *mine], host=host or vm.host)  # the inventory's name

        found = _stack_vms(self, name)
        for host, why in found.unreachable.items():
            (on_note or (lambda _text: None))(f"host {host}: unreachable: {why}")
        return sorted((private(vm, host) for host, vms in found.vms.items() for vm in vms),
                      key=lambda v: (v.name, v.host))

    def stack_copy(self: "Vmctl", name: str, src: str, dest: str, *, recursive: bool = False, parallel: int = 4,
                   insecure: bool = False, write: Callable[[str], None]) -> "FanOutSummary":
        """`vmctl cp` for every VM of stack ``name``, the guest side written ``:/path``: a host
        file to each VM, or each VM's file into ``dest/VMNAME/`` (see ops.stackfan). A VM
        that fails is its outcome; the others are still done. ``write`` gets a line per copy."""
        from vmctl.ops.stackfan import copy_many

        def copy_one(one_src: str, one_dest: str) -> None:
            with self._sibling() as api:
                api.copy(one_src, one_dest, recursive=recursive, insecure=insecure)
        return copy_many(copy_one, self.stack_members(name), src, dest, parallel=parallel, write=write)

    def stack_backup(self: "Vmctl", name: str, dest: "str | Path", *, parallel: int = 2,
                     write: Callable[[str], None]) -> "StackBackup":
        """:meth:`backup` of every VM of stack ``name`` into ``dest/VMNAME`` (``dest`` is made
        if missing; each VM's directory must be new). A VM that fails is its outcome; the
        others are still backed up. ``write`` gets a line per backup."""
        from vmctl.ops.stackfan import backup_many

        def backup_one(vm: str, where: Path) -> "BackupResult":
            with self._sibling() as api:
                return api.backup(vm, where)
        summary, done = backup_many(backup_one, self.stack_members(name), Path(dest), parallel=parallel, write=write)
        return StackBackup(name, summary, done)


def _fleet(api: "Vmctl", timeout: float = 30.0) -> "StackHosts":
    """This host and every host of the inventory (the unreachable ones recorded)."""
    from vmctl.api.stackhosts import connect
    from vmctl.ops.inventory import list_hosts

    entries = list(list_hosts().hosts)
    return connect(api, entries, entries, strict=False, timeout=timeout)


@dataclass
class _Found:
    """A stack's VMs by host (``here``: this host's key in ``vms``), and the hosts that did
    not answer."""

    here: str
    vms: dict[str, list["VmInfo"]]
    unreachable: dict[str, str]


def _stack_vms(api: "Vmctl", stack: str, *, timeout: float = 30.0) -> _Found:
    """The stack's VMs on this host and on every host of the inventory."""
    from vmctl.policy.stackplan import STACK_LABEL

    hosts = _fleet(api, timeout)
    try:
        vms = {host: hosts.api(host).list(labels={STACK_LABEL: stack}) for host in hosts.names()}
    finally:
        hosts.close()
    return _Found(hosts.here_alias, vms, hosts.unreachable)


def _raise_unreachable(unreachable: dict[str, str], done: str, verb: str) -> None:
    if unreachable:
        from vmctl.errors import HostError

        raise HostError(f"{done}; not reached: " + "; ".join(f"{h}: {why}" for h, why in unreachable.items()),
                        hint=f"the stack's objects on those hosts remain: `vmctl {verb}` again when they answer")


def _configure_networks(api: "Vmctl", stack: "Stack", name: str, nics: dict[str, list["Attachment"]],
                        insecure: bool) -> None:
    """The VM's addresses on the stack's networks and every peer's name in its /etc/hosts."""
    from vmctl.guest.privnet import configure_argv
    from vmctl.policy.stacknet import hosts_lines

    entry_of = {vm: spec.name for vm, spec in stack.instances().items()}
    argv = configure_argv([(nic.mac, nic.cidr) for nic in nics.get(name, [])], hosts_lines(name, nics, entry_of),
                          sudo=(api.info(name).ssh_user or "root") != "root")
    api.exec_output(name, argv, timeout=60, insecure=insecure, check=True)


def _add_ports(api: "Vmctl", name: str, spec: "VmSpec") -> None:
    have = {(f.forward.host_addr, f.forward.host_port, f.forward.proto) for f in api.port_list(name)}
    for forward in spec.ports:
        if (forward.host_addr, forward.host_port, forward.proto) not in have:
            api.port_add(name, f"{forward.host_addr}:{forward.host_port}:{forward.guest_port}/{forward.proto}")


def _provision(api: "Vmctl", stack: "Stack", spec: "VmSpec", name: str, base: Path, insecure: bool) -> None:
    from vmctl.provision.plan import plan_from_data

    if spec.provision is None:
        return
    if spec.provision.plan is not None:
        api.provision(name, base / spec.provision.plan, insecure=insecure)
    elif spec.provision.steps:
        plan = plan_from_data({"steps": [dict(step) for step in spec.provision.steps]},
                              Path(f"{stack.source}: vms.{spec.name}.provision"), base.resolve())
        api.provision(name, plan, insecure=insecure)


def _wait_ready(api: "Vmctl", stack: "Stack", spec: "VmSpec", name: str, insecure: bool) -> None:
    """``ssh`` was proved by create; a port or a file is waited for in the guest, as the
    provisioning steps ``wait_port`` and ``wait_file`` do (the same bounded polling)."""
    from vmctl.provision.plan import plan_from_data

    ready = spec.ready
    if ready.kind == "ssh":
        return
    step: dict[str, object] = {"wait_port": ready.port} if ready.kind == "port" else {"wait_file": ready.path}
    if ready.timeout is not None:
        step["timeout"] = ready.timeout
    api.provision(name, plan_from_data({"steps": [step]}, Path(f"{stack.source}: vms.{spec.name}.ready"), Path("/")),
                  insecure=insecure, record=False)  # the record is the VM's provisioning's
