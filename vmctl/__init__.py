"""vmctl: a virtualization manager for KVM/QEMU through libvirt."""

__version__ = "0.1.0"
