"""The admin half of :class:`vmctl.api.Vmctl`: clone, set, pause/resume, autostart,
events, host check (a mixin: it uses the host, pools and VM use cases of the object
it is part of)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vmctl.ops.clone import CloneResult
    from vmctl.ops.edit import EditResult
    from vmctl.ops.ports import ForwardInfo, PortChange
    from vmctl.ops.hostcheck import HostCheck
    from vmctl.ops.vms import VmInfo
    from vmctl.ops.vmset import SetResult
    from vmctl.spec.events import LifecycleEvent


class AdminApi:
    def host_check(self) -> "HostCheck":
        """What this host can do, each finding with its fix: libvirt and daemons, /dev/kvm,
        KVM tried with a probe guest, nesting, pool space, and the measured slowdown that
        vmctl's waits scale with (saved for later commands on this machine)."""
        from vmctl.ops.hostcheck import check_host

        return check_host(self.host, self.pools.find())

    def clone(self, src: str, new: str, *, full: bool = False) -> "CloneResult":
        """A new VM ``new`` with ``src``'s disks (copied at one instant, also while ``src``
        runs) and a new identity: name, UUID, MACs, SSH port, host key, seed. Linked
        to ``src``'s base image, or ``full`` (standalone). Not started."""
        from vmctl.ops.clone import clone_vm
        from vmctl.ops.safety.repair import sweep

        pool = self.pool
        sweep(self.host, pool)
        return clone_vm(self.host, pool, src, new, full=full)

    def set(self, name: str, *, cpus: int | None = None, memory: str | int | None = None) -> "SetResult":
        """Change a VM's vCPUs and/or memory: in its definition, and live where the running
        guest allows it (each change in the result says which, and why not)."""
        from vmctl.ops.vmset import set_resources

        from vmctl.api import _memory_mib

        return set_resources(self.host, self.pool, name, cpus=cpus, memory=_memory_mib(memory))

    def definition(self, name: str) -> str:
        """The VM's persistent domain XML, as `edit` starts from."""
        from vmctl.ops.edit import current_definition

        return current_definition(self.host, name)

    def edit(self, name: str, original: str, edited: str, *, allow_host: bool = False) -> "EditResult":
        """Define ``edited`` (a changed copy of ``original``, from :meth:`definition`) after
        vmctl's checks: schema, the same name/UUID/metadata/QEMU arguments, no new host files
        or devices unless ``allow_host``; refused if the definition changed meanwhile."""
        from vmctl.ops.edit import apply_edit

        return apply_edit(self.host, self.pool, name, original, edited, allow_host=allow_host)

    def port_list(self, name: str) -> "list[ForwardInfo]":
        """The VM's port forwards (its SSH forward among them, marked)."""
        from vmctl.ops.ports import list_forwards

        return list_forwards(self.host, name)

    def port_add(self, name: str, forward: str, *, expose: bool = False) -> "PortChange":
        """Forward ``[HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]`` (loopback unless given;
        a non-loopback address only with ``expose``): in the definition, and live when the
        VM runs."""
        from vmctl.ops.ports import add_forward
        from vmctl.spec.ports import parse_forward

        return add_forward(self.host, self.pool, name, parse_forward(forward), expose=expose)

    def port_remove(self, name: str, forward: str) -> "PortChange":
        """Remove a forward (named by ``[HOST_ADDR:]HOST_PORT[:GUEST_PORT][/PROTO]``)."""
        from vmctl.ops.ports import remove_forward
        from vmctl.spec.ports import parse_host_socket

        return remove_forward(self.host, self.pool, name, *parse_host_socket(forward))

    def events(self, on_event: "Callable[[LifecycleEvent], object]", *, name: str | None = None,
               timeout: float | None = None, count: int | None = None) -> int:
        """libvirt's lifecycle events (of every domain, or of ``name``) as they happen, to
        ``on_event``, until ``timeout`` seconds or ``count`` events; returns how many."""
        from vmctl.ops.events import stream_events

        return stream_events(self.host, on_event, name=name, timeout=timeout, count=count)

    def pause(self, name: str) -> "VmInfo":
        """Stop the guest's vCPUs; memory, devices and connections stay."""
        return self.vms.pause(name)

    def resume(self, name: str) -> "VmInfo":
        """Continue a paused guest."""
        return self.vms.resume(name)

    def autostart(self, name: str, on: bool = True) -> "VmInfo":
        """Start the VM whenever the host's libvirtd starts (``on=False``: not)."""
        return self.vms.set_autostart(name, on)

