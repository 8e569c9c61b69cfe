"""Facts about, and files on, the machine vmctl itself runs on (no libvirt, no SSH).

/proc and /sys for KVM, loopback ports, files the user names, image files
inspected with qemu-img.
"""
