"""vmctl's error hierarchy and the single table that maps errors to exit codes.

Every failure a user can cause or meet is a :class:`VmctlError` with a one-line
message and a hint. The CLI turns them into exit codes through :func:`exit_code_for`
and nowhere else.
"""

from __future__ import annotations


class VmctlError(Exception):
    """Base class: a message for the user and a hint on what to do about it."""

    code = "error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "exit_code": exit_code_for(self),
            "message": self.message,
            "hint": self.hint,
        }


class InvalidInput(VmctlError):
    """The user asked for something malformed (name, size, template, option)."""

    code = "invalid-input"


class NotFound(VmctlError):
    """A named domain, image, template or file does not exist."""

    code = "not-found"


class Conflict(VmctlError):
    """The thing exists already, or is in use, or is in the wrong state."""

    code = "conflict"


class InsufficientResources(VmctlError):
    """Not enough disk space, memory or CPUs for the request."""

    code = "insufficient-resources"


class HostError(VmctlError):
    """The host cannot do it: libvirt unreachable, KVM or nesting unavailable."""

    code = "host-error"


class OperationFailed(VmctlError):
    """libvirt, QEMU or a host tool refused or failed an operation."""

    code = "operation-failed"


class Timeout(VmctlError):
    """An operation did not finish in the time allowed."""

    code = "timeout"


class Busy(VmctlError):
    """Another operation holds the domain."""

    code = "busy"


class LostLock(Busy):
    """This operation's lock was taken over (it was judged dead): it changes nothing more."""

    code = "lost-lock"


class GuestError(VmctlError):
    """The guest could not be reached or refused us (SSH, host key, auth)."""

    code = "guest-error"


class HostKeyMismatch(GuestError):
    """The guest presented an SSH host key other than the pinned one."""

    code = "host-key-mismatch"


class MigrationFailed(VmctlError):
    """A migration did not complete (the destination failed, the link broke, the job was
    aborted); the guest is left on exactly one host, named in the message."""

    code = "migration-failed"


class MigrationTimeout(MigrationFailed):
    """A migration did not complete within its completion timeout and was aborted."""

    code = "migration-timeout"


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: the operation unwinds exactly as for Ctrl-C, and
    vmctl exits with 128 + the signal number (130, 143, 129)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum


# The one table of exit codes. 1 is an unexpected internal error, 2 is a
# command-line usage error (typer/click's own convention).
EXIT_CODES: dict[type[VmctlError], int] = {
    InvalidInput: 3,
    NotFound: 4,
    Conflict: 5,
    InsufficientResources: 6,
    HostError: 7,
    OperationFailed: 8,
    Timeout: 9,
    Busy: 10,
    GuestError: 11,
    HostKeyMismatch: 12,
    MigrationFailed: 13,
    MigrationTimeout: 14,
    LostLock: 15,
    VmctlError: 1,
}
INTERNAL_ERROR_EXIT = 1
USAGE_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130   # Ctrl-C (128 + SIGINT); SIGTERM 143, SIGHUP 129 (see Interrupted)
GUEST_COMMAND_FAILURE_EXIT = 255  # exec/run: vmctl or the SSH transport failed (as ssh(1) does)
BROKEN_PIPE_EXIT = 141   # stdout's reader went away (128 + SIGPIPE), e.g. `vmctl list | head -1`


def exit_code_for(error: BaseException) -> int:
    """Exit code for an error: the nearest class in :data:`EXIT_CODES`."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]  # type: ignore[index]
    return INTERNAL_ERROR_EXIT
