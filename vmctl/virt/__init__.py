"""The connection layer: the only package that imports libvirt.

Everything above it sees vmctl errors and plain data, never libvirtError.
"""
