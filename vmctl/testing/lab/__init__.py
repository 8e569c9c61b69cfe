"""A second libvirt host on this machine (network + mount namespaces, own daemons).

See docs/lab.md. Needs root; never touches the root host's libvirtd."""

from vmctl.testing.lab.host import LabHost

__all__ = ["LabHost"]
