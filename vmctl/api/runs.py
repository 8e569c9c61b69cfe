"""The CI half of :class:`vmctl.api.Vmctl`: ephemeral runs and their garbage (a mixin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vmctl.ops.run import RunFailed  # noqa: F401 - raised by run(); the CLI catches it from here

if TYPE_CHECKING:
    from vmctl.ops.gc import GcReport
    from vmctl.ops.run import RunEvent, RunResult

Writer = Callable[[bytes], None]


class RunApi:
    def run(self, command: Sequence[str] = (), *, name: str | None = None, script: str | Path | None = None,
            env: Mapping[str, str] | None = None, collect: Sequence[str] = (), artifacts: str | Path | None = None,
            keep_on_failure: bool = False, timeout: float | None = None, ready_timeout: float | None = None,
            image: str | None = None, template: str | None = None, cpus: int | None = None,
            memory: str | int | None = None, disk: str | int | None = None, accel: str | None = None,
            nested: bool = False, user: str | None = None, ssh_key: str | Path | None = None,
            user_data: str | Path | None = None, network: str | None = None, internet: bool = False,
            drop_unusable: bool = False,
            labels: Mapping[str, str] | None = None, on_event: "Callable[[RunEvent], object] | None" = None,
            out: Writer | None = None, err: Writer | None = None) -> "RunResult":
        """Boot an ephemeral VM, run ``command`` (or upload and run ``script`` with
        ``command`` as its arguments) in it, copy ``collect`` (``GUEST_PATH:HOST_DIR``)
        back, and remove the VM. The result's ``exit_status`` is the command's.

        On a failed or timed-out command, a vmctl error or a signal, a failure bundle
        is written to ``artifacts``/NAME/ (when given) before the clean-up; vmctl
        errors and signals are then raised as :class:`vmctl.ops.run.RunFailed`
        (``.result``, ``.cause``). ``keep_on_failure`` leaves a failed run's VM
        defined and running (not for a cancelled run)."""
        from vmctl.ops.run import Run
        from vmctl.spec.run import Collect, RunRequest, new_run_name

        request = RunRequest(
            create=self._request(name or new_run_name(), image=image, template=template, cpus=cpus, memory=memory,
                                 disk=disk, accel=accel, nested=nested, wait_boot=True, timeout=ready_timeout,
                                 user=user, ssh_key=ssh_key, user_data=user_data, network=network,
                                 internet=internet, drop_unusable=drop_unusable, labels=labels),  # type: ignore[attr-defined]
            argv=tuple(command), script=Path(script).expanduser() if script else None, env=dict(env or {}),
            collect=tuple(Collect.parse(c) for c in collect),
            artifacts=Path(artifacts).expanduser() if artifacts else None,
            keep_on_failure=keep_on_failure, timeout=timeout, ready_timeout=ready_timeout)
        return Run(self.host, self.pool, self.guest(), request,  # type: ignore[attr-defined]
                   on_event=on_event, out=out, err=err).execute()

    def gc(self, *, older_than: float | str | None = None, dry_run: bool = False) -> "GcReport":
        """Remove what dead runs left (volumes, records) and, with ``older_than``
        (seconds, or a text such as '2h'), VMs kept by ``run(keep_on_failure=True)``
        older than that."""
        from vmctl.ops.gc import GcReport, gc
        from vmctl.spec.units import parse_duration

        if isinstance(older_than, str):
            older_than = parse_duration(older_than, what="--older-than")

        pool = self.pools.find()  # type: ignore[attr-defined]
        if pool is None:
            return GcReport([])
        return gc(self.host, pool, self.vms, older_than=older_than, dry_run=dry_run)  # type: ignore[attr-defined]

    def failure_bundle(self, name: str, artifacts: str | Path, *, reason: str = "",
                       budget: float = 10.0) -> Path:
        """Write a failure bundle of VM ``name`` (its kernel and system logs over SSH,
        its info) to ``artifacts``/NAME/; returns that directory. Never raises for an
        unreachable guest: the files say what could not be collected."""
        from vmctl.ops.bundle import bundle_of_vm

        return bundle_of_vm(self.host, self.guest(), name, Path(artifacts),  # type: ignore[attr-defined]
                            reason=reason, budget=budget).path
