"""The one place where libvirt errors become vmctl errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import libvirt

from vmctl.errors import Conflict, HostError, MigrationFailed, NotFound, OperationFailed, Timeout, VmctlError

# libvirt prints every error to stderr by default; we report them ourselves.
libvirt.registerErrorHandler(lambda _ctx, _err: None, None)

_NOT_FOUND = {
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_NO_STORAGE_POOL,
    libvirt.VIR_ERR_NO_STORAGE_VOL,
    libvirt.VIR_ERR_NO_NETWORK,
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
}
_CONFLICT = {libvirt.VIR_ERR_OPERATION_INVALID, libvirt.VIR_ERR_DOM_EXIST, libvirt.VIR_ERR_STORAGE_VOL_EXIST}
_TIMEOUT = {libvirt.VIR_ERR_OPERATION_TIMEOUT, libvirt.VIR_ERR_AGENT_UNRESPONSIVE}
_HOST = {libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_AUTH_FAILED, libvirt.VIR_ERR_RPC, libvirt.VIR_ERR_NO_SUPPORT}


def translate(exc: libvirt.libvirtError, action: str) -> VmctlError:
    code = exc.get_error_code()
    text = (exc.get_error_message() or str(exc)).strip()
    message = f"{action}: {text}"
    if code in _NOT_FOUND:
        return NotFound(message, hint="check the name with `vmctl list` or `vmctl image list`")
    if code in _CONFLICT:
        return Conflict(message, hint="check the VM's state with `vmctl info NAME`")
    if code in _TIMEOUT:
        return Timeout(message, hint="the hypervisor is busy; try again")
    if code in _HOST or exc.get_error_domain() == libvirt.VIR_FROM_RPC:
        return HostError(message, hint="is libvirtd running? try `virsh -c URI version`, or .ci/setup")
    return OperationFailed(message, hint="see libvirtd's log for details")


def translate_migration(exc: libvirt.libvirtError, action: str) -> VmctlError:
    """A failed migrate call: a name clash on the destination is a Conflict, anything
    else (aborted, QEMU gone, link broken, refused) a MigrationFailed."""
    code = exc.get_error_code()
    text = (exc.get_error_message() or str(exc)).strip()
    if code == libvirt.VIR_ERR_DOM_EXIST or "already exists" in text:
        return Conflict(f"{action}: {text}", hint="the destination has a domain of that name or UUID")
    if code == libvirt.VIR_ERR_OPERATION_ABORTED:
        return MigrationFailed(f"{action}: aborted ({text})", hint="the guest still runs on the source")
    return MigrationFailed(f"{action}: {text}",
                           hint="the guest still runs on the source; the libvirtd logs of both hosts say more")


@contextmanager
def libvirt_errors(action: str) -> Iterator[None]:
    """Run a block of libvirt calls, raising vmctl errors that name ``action``."""
    try:
        yield
    except libvirt.libvirtError as exc:
        raise translate(exc, action) from None


T = TypeVar("T")


def lookup(call: Callable[[], T], missing_code: int, missing: NotFound, action: str) -> T:
    """``call()`` (a libvirt lookup), with "no such object" turned into ``missing``."""
    try:
        return call()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == missing_code:
            raise missing from None
        raise translate(exc, action) from None
