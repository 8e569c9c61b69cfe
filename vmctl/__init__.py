"""vmctl: a virtualization manager for KVM/QEMU through libvirt."""

__version__ = "0.1.0"


def checkpoint(vm: str, *, uri: str | None = None, keep: bool = False):
    """``with vmctl.checkpoint("web1"): upgrade()`` - snapshot web1, revert it if the
    block raises (an exception, Ctrl-C, SIGTERM), remove the snapshot at the end."""
    from contextlib import contextmanager

    from vmctl.api import Vmctl

    @contextmanager
    def scope():
        with Vmctl(uri) as api, api.checkpoint(vm, keep=keep) as point:
            yield point
    return scope()
