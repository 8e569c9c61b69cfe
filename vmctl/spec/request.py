"""What a user asks ``create`` for, before vmctl resolves it into a DomainSpec."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput
from vmctl.spec.domain import Accel
from vmctl.spec.names import MAC_RE, check_labels, check_name


@dataclass(frozen=True)
class CreateRequest:
    name: str
    image: str | None = None
    template: str | None = None
    cpus: int | None = None          # default: the template's <vcpu>
    memory_mib: int | None = None    # default: the template's <memory>
    disk_bytes: int | None = None
    accel: Accel | None = None
    nested: bool = False
    start: bool = True
    wait_boot: bool = False
    boot_timeout: float | None = None
    user: str | None = None
    ssh_key: Path | None = None      # private key to log in with (default: vmctl's own)
    user_data: Path | None = None    # the user's cloud-config, merged with vmctl's keys
    network: str | None = None       # attach to this libvirt network instead of a user-mode NIC
    internet: bool = False           # the user-mode NIC with a route out (not restricted)
    drop_unusable: bool = False      # leave out template parts a new VM cannot use, instead of refusing
    labels: tuple[tuple[str, str], ...] = ()  # key=value pairs kept in vmctl's metadata (`list --label`)
    attach: tuple[tuple[str, str], ...] = ()  # (libvirt network, MAC): more NICs, after the first (stacks' networks)

    def __post_init__(self) -> None:
        check_name(self.name)
        object.__setattr__(self, "labels", check_labels(self.labels))  # sorted, each pair checked
        for ref, what in ((self.image, "image"), (self.user, "user"), (self.network, "network")):
            if ref is not None:
                check_name(ref, what)
        for network, mac in self.attach:
            check_name(network, "network")
            if not MAC_RE.match(mac):
                raise InvalidInput(f"invalid MAC address {mac!r}", hint="52:54:00:xx:xx:xx, lowercase hex")
