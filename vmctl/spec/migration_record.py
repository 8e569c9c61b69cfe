"""The migration's intent record, typed: what a repair needs to settle a migration
whose vmctl died, on either host.

Both hosts are named by libvirt host UUID (``<host><uuid>`` in the capabilities:
what libvirt itself uses to refuse "migrate to the same host") and by URI. A
repair finds its role by comparing the UUID of the host it is connected to with
the record, never by the record's position or a "role" string: on shared
storage both hosts read the same record.

Serialised as one JSON value under the key ``migration`` of the record's ``data``
(``Intent.note("migration", ...)`` rewrites it whole when a fact is added).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace

from vmctl.errors import InvalidInput

DATA_KEY = "migration"
SPEC_FORMAT = 1
ROLES = ("source", "destination")


@dataclass(frozen=True)
class HostRef:
    uuid: str   # libvirt host UUID
    uri: str    # as the migrating vmctl reached it (redacted: no password)


@dataclass(frozen=True)
class MigrationSpec:
    uuid: str                      # the domain's UUID (never touch a same-named other one)
    source: HostRef
    destination: HostRef
    pool: str                      # vmctl's pool, same name on both hosts
    live: bool
    storage: str                   # "shared" or "copy"
    keep_source: bool = False
    volumes: tuple[str, ...] = ()  # the VM's own volumes (copied and removed in copy mode)
    snapshots: str = ""            # volume holding the lifted snapshot metadata (noted before the lift)
    postcopy: bool = False         # the switch to post-copy was asked for (noted before it): no way back
    format: int = SPEC_FORMAT

    def __post_init__(self) -> None:
        if self.storage not in ("shared", "copy"):
            raise InvalidInput(f"invalid migration storage {self.storage!r} in an intent record")

    @property
    def copy(self) -> bool:
        return self.storage == "copy"

    def host(self, role: str) -> HostRef:
        return self.source if role == "source" else self.destination

    def with_note(self, **changes: object) -> "MigrationSpec":
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_data(self) -> dict[str, str]:
        """The record's ``data``."""
        return {DATA_KEY: json.dumps(asdict(self), sort_keys=True)}

    @classmethod
    def from_data(cls, data: dict[str, str]) -> "MigrationSpec":
        """Parse a record's ``data``. ValueError when it is not a migration spec vmctl
        knows (an older vmctl's record names no host UUIDs)."""
        raw = data.get(DATA_KEY)
        if not isinstance(raw, str):
            raise ValueError("the record names no hosts by UUID (written by an older vmctl)")
        try:
            fields = json.loads(raw)
            if not isinstance(fields, dict) or fields.get("format") != SPEC_FORMAT:
                raise ValueError("unknown migration record format")
            hosts = {k: HostRef(str(fields[k]["uuid"]), str(fields[k]["uri"])) for k in ROLES}
            volumes = fields.get("volumes", [])
            if not isinstance(volumes, list) or not all(isinstance(v, str) for v in volumes):
                raise ValueError("volumes must be a list of names")
            return cls(uuid=str(fields["uuid"]), source=hosts["source"], destination=hosts["destination"],
                       pool=str(fields["pool"]), live=bool(fields["live"]), storage=str(fields["storage"]),
                       keep_source=bool(fields.get("keep_source", False)), volumes=tuple(volumes),
                       snapshots=str(fields.get("snapshots", "")), postcopy=bool(fields.get("postcopy", False)))
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:
            raise ValueError(f"unreadable migration record: {exc}") from None
