"""The hosts inventory for scripts and the CLI: named libvirt URIs kept on this machine
(``$VMCTL_HOSTS``, else ``hosts.yaml`` in the user's config directory). Plain functions,
not :class:`vmctl.api.Vmctl` methods: the inventory belongs to no connection, and none of
these opens one. ``Vmctl(host_uri("hv1"))`` connects to an entry.
"""

from __future__ import annotations

from vmctl.ops.inventory import Inventory, add_host, host_uri, list_hosts, remove_host
from vmctl.spec.hosts import HostEntry

__all__ = ["HostEntry", "Inventory", "add_host", "host_uri", "list_hosts", "remove_host"]

