"""Typed, validated descriptions of what vmctl builds and is asked to do.

Plain frozen dataclasses, names, sizes: no lxml, libvirt or paramiko here, and no I/O.
"""
