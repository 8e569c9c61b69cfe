"""libvirt hosts on this machine (network + mount namespaces, own daemons): one
(:class:`LabHost`) or a lab of N joined by a private link (:mod:`.cluster`, behind
`vmctl lab up`). See docs/lab.md. Needs root; never touches the root host's libvirtd."""

from vmctl.testing.lab.host import LabHost

__all__ = ["LabHost"]
