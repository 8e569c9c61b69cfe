"""Migration: what is asked, the job statistics libvirt reports, the events a
migration emits while it runs, and its result. Plain data, no I/O."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from vmctl.errors import InvalidInput
from vmctl.spec.names import check_name

ON_TIMEOUT = ("abort", "postcopy")


@dataclass(frozen=True)
class MigrationRequest:
    name: str
    dest_uri: str
    copy_storage: bool = False       # copy the VM's disks (NBD) into volumes made on the destination
    keep_source: bool = False        # keep a (shut-off) definition on the source
    tls: bool = False                # QEMU's TLS for the migration stream
    insecure_transport: bool = False  # allow qemu+tcp:// (clear text, unauthenticated)
    max_downtime_ms: int | None = None
    bandwidth_mib: int | None = None  # MiB/s, None: unlimited
    on_timeout: str = "abort"        # or "postcopy"
    timeout: float | None = None     # completion timeout in seconds (None: scaled per GiB)
    dry_run: bool = False

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.on_timeout not in ON_TIMEOUT:
            raise InvalidInput(f"invalid --on-timeout {self.on_timeout!r}", hint="use abort or postcopy")
        if self.max_downtime_ms is not None and not 1 <= self.max_downtime_ms <= 600_000:
            raise InvalidInput(f"invalid --max-downtime {self.max_downtime_ms}", hint="1 to 600000 ms")
        if self.bandwidth_mib is not None and not 1 <= self.bandwidth_mib <= 1_000_000:
            raise InvalidInput(f"invalid --bandwidth {self.bandwidth_mib}", hint="1 to 1000000 MiB/s")
        if self.timeout is not None and not self.timeout > 0:
            raise InvalidInput(f"invalid --timeout {self.timeout}", hint="a positive number of seconds")


@dataclass(frozen=True)
class JobStats:
    """One sample of libvirt's job statistics (virDomainGetJobStats), in vmctl's names."""

    active: bool                  # a job is running (False: none, or finished)
    elapsed_ms: int = 0
    data_total: int = 0           # bytes: memory (+ disks with storage copy)
    data_processed: int = 0
    data_remaining: int = 0
    memory_bps: int = 0           # transfer speed of memory, bytes/s
    disk_bps: int = 0             # ... of disks (storage copy)
    dirty_rate_pps: int = 0       # memory pages dirtied per second
    page_size: int = 4096
    iteration: int = 0            # memory pass
    disk_total: int = 0
    disk_processed: int = 0
    downtime_ms: int | None = None  # completed jobs: the real downtime
    postcopy_requests: int = 0

    @property
    def speed_bps(self) -> int:
        return self.memory_bps or self.disk_bps

    @property
    def dirty_rate_bps(self) -> int:
        return self.dirty_rate_pps * self.page_size

    @classmethod
    def from_libvirt(cls, stats: dict[str, object], *, completed: bool = False) -> "JobStats":
        """From the dict libvirt-python returns. ``type`` 0 is "no job", 3 "completed"."""
        def num(key: str) -> int:
            value = stats.get(key)
            return int(value) if isinstance(value, (int, float)) else 0
        kind = num("type")
        return cls(
            active=kind not in (0, 3) and not completed, elapsed_ms=num("time_elapsed"),
            data_total=num("data_total"), data_processed=num("data_processed"),
            data_remaining=num("data_remaining"), memory_bps=num("memory_bps"), disk_bps=num("disk_bps"),
            dirty_rate_pps=num("memory_dirty_rate"), page_size=num("memory_page_size") or 4096,
            iteration=num("memory_iteration"), disk_total=num("disk_total"), disk_processed=num("disk_processed"),
            downtime_ms=num("downtime") if completed and "downtime" in stats else None,
            postcopy_requests=num("memory_postcopy_requests"),
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class MigrationEvent:
    """What a migration tells its caller while it runs (the CLI prints these, or
    writes them as JSON lines). ``kind``: check, phase, progress, warning."""

    kind: str
    name: str = ""           # check name, phase name
    ok: bool = True          # checks
    detail: str = ""
    elapsed: float = 0.0     # seconds since the migration began
    stats: JobStats | None = None

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"event": self.kind, "elapsed": round(self.elapsed, 3)}
        if self.name:
            out["name"] = self.name
        if self.kind == "check":
            out["ok"] = self.ok
        if self.detail:
            out["detail"] = self.detail
        if self.stats is not None:
            out.update({k: v for k, v in self.stats.to_dict().items() if k not in ("active",)})
        return out


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class MigrationResult:
    name: str
    source: str                  # URIs, redacted
    destination: str
    mode: str                    # live, offline
    storage: str                 # shared, copy
    dry_run: bool = False
    checks: list[CheckResult] = field(default_factory=list)
    total_seconds: float = 0.0
    downtime_ms: int | None = None
    bytes_moved: int = 0
    ssh_port: int | None = None  # the forward port on the destination
    kept_source: bool = False
    postcopy: bool = False
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
