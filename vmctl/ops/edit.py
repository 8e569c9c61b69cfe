"""`vmctl edit`: a VM's definition changed by a person, checked, then defined (like
`virsh edit`, with vmctl's refusals: see :mod:`vmctl.libvirtxml.editcheck`)."""

from __future__ import annotations

from dataclasses import dataclass

from vmctl.errors import Conflict
from vmctl.libvirtxml.editcheck import check_edit, unchanged
from vmctl.ops.safety.operation import Operation
from vmctl.spec.names import check_name
from vmctl.virt import domains
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool


@dataclass(frozen=True)
class EditResult:
    vm: str
    changed: bool
    running: bool  # the VM runs: the change applies from its next start (libvirt keeps the live one)

    def to_dict(self) -> dict[str, object]:
        return {"vm": self.vm, "changed": self.changed, "applies": "next start" if self.running else "now"}


def current_definition(host: Host, name: str) -> str:
    """The persistent definition, as `edit` shows it."""
    dom = domains.lookup(host, check_name(name))
    if not dom.persistent:
        raise Conflict(f"{name} is transient (a `vmctl run` VM): it has no definition to edit",
                       hint="it goes away when its run ends")
    return dom.xml(inactive=True)


def apply_edit(host: Host, pool: Pool, name: str, original: str, edited: str, *,
               allow_host: bool = False) -> EditResult:
    """Define ``edited`` if it passes the checks and the definition is still ``original``
    (an edit made meanwhile by someone else is not overwritten)."""
    with Operation(host, pool, "edit", check_name(name)):
        dom = domains.lookup(host, name)
        if unchanged(original, edited):
            return EditResult(name, False, dom.is_active())
        checked = check_edit(original, edited, allow_host=allow_host)
        if not unchanged(dom.xml(inactive=True), original):
            raise Conflict(f"{name}'s definition changed while it was being edited",
                           hint=f"run `vmctl edit {name}` again: your edit was not applied")
        domains.define(host, checked)
        return EditResult(name, True, dom.is_active())
