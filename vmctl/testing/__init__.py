"""Test support shipped with vmctl: the multi-host lab, an in-process SSH server,
network-namespace sockets. Nothing in vmctl imports this package but the tests and
the CLI's ``lab`` command."""
