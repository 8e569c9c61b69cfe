"""Migrating a VM to another libvirt host, as a pipeline that only calls down:

    pre-flight (ops.migrate_checks)      reads only; each check reported; --dry-run stops here
                                         (the VM's volumes must be its alone, on either host)
    -> lock the name on both hosts       one Operation (ops.safety) with a record on each host (one,
                                         when both see the same pool) holding a MigrationSpec: both
                                         hosts by libvirt host UUID and URI; one undo stack
    -> carry snapshots (ops.carry)       noted in the record, then saved and lifted off the source
    -> prepare the destination           copy: its volumes (recorded first, undone on failure)
    -> transfer                          live: migrate3 + the monitor (policy.migration); a switch
                                         to post-copy is noted before it is asked for;
                                         offline: copy volumes, define there
    -> finish                            snapshots redefined there; undefine / remove the source's
                                         own volumes (--keep-source on shared storage: the kept
                                         definition is made to own none)

A failure, a timeout, Ctrl-C or SIGTERM before the guest runs on the destination
aborts the job and leaves the guest where it was (running, unpaused), with nothing
left on the destination; once post-copy was noted there is no going back: the
source is never resumed, the destination never removed. If vmctl itself dies,
the records let the next vmctl settle it from both hosts' state (``ops.settle``:
roles by host UUID, the other host reached only at a URI the user gave or a
known host's).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from vmctl.errors import Conflict, MigrationFailed, MigrationTimeout, VmctlError
from vmctl.libvirtxml.storage import volume_xml
from vmctl.local.testhooks import checkpoint
from vmctl.ops.safety.intents import Intent
from vmctl.ops import carry
from vmctl.ops.carry import check_can_travel
from vmctl.ops.migrate_checks import MigrationPlan, lookup_uuid, preflight
from vmctl.ops.safety.operation import Operation
from vmctl.ops.settle import Settled, disown_volumes, peers_given, remove_unused_volumes, settle_migration
from vmctl.policy.migration import POLL_INTERVAL, Action, MonitorState, next_actions
from vmctl.signals import deferred_signals
from vmctl.spec.migration import CheckResult, JobStats, MigrationEvent, MigrationRequest, MigrationResult
from vmctl.spec.migration_record import DATA_KEY, HostRef, MigrationSpec
from vmctl.spec.uris import display_uri
from vmctl.virt import domains
from vmctl.virt import migrate as vmig
from vmctl.virt.host import Host
from vmctl.virt.storage import Pool, copy_volume, find_pool

OnEvent = Callable[[MigrationEvent], None]
ABORT_WAIT = 60.0   # seconds for libvirt to wind an aborted job down
POSTCOPY_WAIT = 600.0  # ... for a post-copy migration to finish once interrupted (it cannot be aborted)


class _Run:
    """One migration's moving parts: hosts, pools, records, undo steps, events."""

    def __init__(self, src: Host, src_pool: Pool, dest: Host, plan: MigrationPlan, on_event: OnEvent,
                 started: float) -> None:
        self.src, self.src_pool, self.dest, self.plan = src, src_pool, dest, plan
        dest_pool = find_pool(dest, src_pool.name)
        self.dest_pool = dest_pool
        self.on_event, self.started = on_event, started
        self.op = Operation(src, src_pool, "migrate", plan.request.name)  # one record per host, one undo stack
        self.dest_intent: Intent | None = None  # the destination's record (None: one pool both hosts see)
        self.warnings: list[str] = []
        self.settled: Settled | None = None
        self.postcopy = False  # the switch to post-copy is recorded (and was asked for): no way back
        self.spec = MigrationSpec(
            uuid=plan.uuid, source=HostRef(plan.source_host_uuid, plan.source_uri),
            destination=HostRef(plan.dest_host_uuid, plan.dest_uri), pool=src_pool.name, live=plan.live,
            storage=plan.storage, keep_source=plan.request.keep_source,
            volumes=tuple(v.name for v in plan.own_volumes))

    @property
    def kept_destination(self) -> bool:
        return self.settled is not None and self.settled.keep == "destination"

    def emit(self, kind: str, name: str = "", detail: str = "", stats: JobStats | None = None) -> None:
        self.on_event(MigrationEvent(kind, name, True, detail, time.monotonic() - self.started, stats))

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        self.emit("warning", detail=text)

    # --- records -------------------------------------------------------------
    def lock(self) -> None:
        self.op.data = self.spec.to_data()
        self.op.begin()
        if self.plan.storage == "shared" or self.dest_pool is None:
            return  # one pool seen by both hosts: the source's record is the destination's too
        self.dest_intent = self.op.also_on(self.dest, self.dest_pool, "migrate-in")

    def note(self, **facts: object) -> None:
        """Add facts to the record (on both hosts), before what they announce is done."""
        self.spec = self.spec.with_note(**facts)
        self.op.note(DATA_KEY, self.spec.to_data()[DATA_KEY])

    def release(self, clean: bool) -> None:
        self.op.release(clean)  # not clean: left for `vmctl repair`

    # --- steps -----------------------------------------------------------------
    def prepare_destination(self) -> None:
        """Copy: make the VM's volumes there (empty overlays for a live block copy, whole
        copies of read-only ones and of everything for an offline move)."""
        if not self.plan.copy:
            return
        assert self.dest_pool is not None and self.dest_intent is not None
        for vol in self.plan.own_volumes:
            self.op.will("volume", vol.name, on=self.dest_intent)
            self.dest_pool.create_volume(volume_xml(vol.name, vol.capacity, vol.format, backing_path=vol.backing_path,
                                                    backing_format=vol.backing_format or None))
            self.op.on_undo(self.dest_pool.delete_volume, vol.name)
            if vol.name not in self.plan.nbd_volumes:  # QEMU copies the others' contents itself
                copy_volume(self.src_pool, vol.name, self.dest_pool)
        self.emit("phase", "prepared", f"{len(self.plan.own_volumes)} volume(s) made on the destination")



def migrate(src: Host, src_pool: Pool, req: MigrationRequest, on_event: OnEvent | None = None) -> MigrationResult:
    """Pre-flight, then (unless ``req.dry_run``) the migration; events go to ``on_event``."""
    started = time.monotonic()
    emit = on_event or (lambda _e: None)

    def report(check: CheckResult) -> None:
        emit(MigrationEvent("check", check.name, check.ok, check.detail, time.monotonic() - started))
    plan, dest = preflight(src, src_pool, req, report)
    try:
        result = MigrationResult(req.name, plan.source_uri, plan.dest_uri, "live" if plan.live else "offline",
                                 plan.storage, dry_run=req.dry_run, checks=plan.checks, ssh_port=plan.ssh_port)
        if req.dry_run:
            return result
        with peers_given(None, [src.uri, req.dest_uri]):  # a dead migration met on the way may reach them
            return _execute(_Run(src, src_pool, dest, plan, emit, started), result)
    finally:
        dest.close()


def _execute(run: _Run, result: MigrationResult) -> MigrationResult:
    from dataclasses import replace

    plan, name = run.plan, run.plan.request.name
    run.lock()
    checkpoint("migrate:locked")
    done = False
    try:
        dom = lookup_uuid(run.src, name, plan.uuid)  # again, now that the name is locked
        if dom is None or dom.state() != ("running" if plan.live else "shut-off"):
            raise Conflict(f"{name} changed while the checks ran", hint="run the migration again")
        if domains.exists(run.dest, name):
            raise Conflict(f"the destination has a domain named {name!r} now", hint="nothing was changed")
        _lift_snapshots(run, dom)
        checkpoint("migrate:snapshots-lifted")
        run.prepare_destination()
        checkpoint("migrate:prepared")
        if run.dest_intent is not None:
            run.op.will("domain", name, plan.uuid, on=run.dest_intent)
        if plan.live:
            stats, postcopy = _transfer_live(run, dom)
        else:
            stats, postcopy = _transfer_offline(run, dom), False
        done = True
        checkpoint("migrate:transferred")
        if carry.put_back(run.dest, run.src_pool, name):
            run.emit("phase", "snapshots", "snapshot metadata redefined on the destination")
        _finish(run)
    except BaseException as exc:
        if done:  # the guest runs on the destination; what is left over goes to `vmctl repair`
            run.release(clean=False)
            if isinstance(exc, VmctlError):
                raise MigrationFailed(f"{name} now runs on {display_uri(plan.dest_uri)}, but cleaning up the "
                                      f"source failed: {exc.message}",
                                      hint=f"`vmctl repair {name}` on the source finishes it") from None
            raise
        with deferred_signals():
            clean = _settle_failure(run, dom_name=name)
            try:
                carry.put_back_where_it_runs(run.src, run.dest, run.src_pool, name)
            except VmctlError as put_exc:
                run.warn(f"could not put back the snapshots of {name}: {put_exc.message}")
                clean = False
        run.release(clean)
        if not isinstance(exc, MigrationFailed) or isinstance(exc, MigrationTimeout):
            raise
        where = f"{name} runs on the destination" if run.kept_destination else \
            f"{name} is not settled yet: its post-copy did not finish" if run.postcopy else f"{name} runs on the source"
        raise MigrationFailed(f"migrating {name} to {display_uri(plan.dest_uri)} failed: {exc.message}; {where}"
                              + ("" if clean else " (some leftovers could not be removed: `vmctl repair`)"),
                              hint=exc.hint if clean else f"`vmctl repair {name}` removes what is left") from None
    run.release(clean=True)
    if run.dest_pool is not None:
        run.dest_pool.refresh()  # a pool both hosts see: the destination's view learns what changed
    run.emit("phase", "done")
    total = time.monotonic() - run.started
    return replace(result, total_seconds=round(total, 3), downtime_ms=stats.downtime_ms if stats else None,
                   bytes_moved=stats.data_processed if stats else 0, kept_source=plan.request.keep_source,
                   postcopy=postcopy, warnings=run.warnings)


def _lift_snapshots(run: _Run, dom: domains.Domain) -> None:
    """libvirt migrates no domain with snapshot metadata: it is saved and lifted off,
    noted in the record first, so a repair after a kill mid-lift looks for the saved copy."""
    if check_can_travel(dom, copy=run.plan.copy):
        run.note(snapshots=carry.carry_volume(dom.name))
        carry.lift(dom, run.src_pool)


def _transfer_live(run: _Run, dom: domains.Domain) -> tuple[JobStats | None, bool]:
    plan = run.plan
    assert plan.settings is not None
    flags = vmig.MigrationFlags(live=True, copy_storage=plan.copy, unsafe_shared=plan.storage == "shared",
                                tls=plan.request.tls, postcopy=plan.request.on_timeout == "postcopy",
                                keep_source=plan.request.keep_source)
    job = vmig.LiveMigration(dom, run.dest, flags=flags, dest_xml=plan.dest_xml, persist_xml=plan.persist_xml,
                             disks=plan.nbd_disks, bandwidth_mib=plan.request.bandwidth_mib)
    run.emit("phase", "transfer", f"live, {plan.storage} storage" + (", TLS" if plan.request.tls else ""))
    state, began, paused_once = MonitorState(), time.monotonic(), False
    # Bounded: past the completion timeout the job is aborted (or, in post-copy, runs on
    # for at most POSTCOPY_WAIT); a job libvirt does not end after that is left to settle.
    hard_stop = plan.settings.completion_timeout + ABORT_WAIT + (POSTCOPY_WAIT if flags.postcopy else 0)
    job.start()
    try:
        while not job.wait(POLL_INTERVAL):
            if time.monotonic() - began > hard_stop:
                job.abort()
                raise MigrationFailed(f"libvirt did not end the migration of {plan.request.name} within "
                                      f"{hard_stop:g} s", hint="see `virsh domjobinfo` on both hosts")
            sample = job.stats()
            # libvirt could not answer (busy): no news is no progress, and the timeout still counts
            stats = sample or JobStats(active=True, data_processed=max(state.processed, 0))
            elapsed = time.monotonic() - began
            decisions, state = next_actions(stats, elapsed, state, plan.settings)
            for decision in decisions:
                _apply(run, job, decision)
            if sample is not None and stats.active and stats.data_total:  # a job's first samples may lack totals
                run.emit("progress", stats=stats)
            if stats.active and stats.data_total and stats.data_processed and not paused_once:
                paused_once = True
                checkpoint("migrate:running")
    except BaseException:
        if not run.postcopy:
            job.abort()
        with deferred_signals():  # in post-copy there is no going back: wait for the end
            job.wait(POSTCOPY_WAIT if run.postcopy else ABORT_WAIT)
        raise
    if job.error is not None:
        if state.timed_out and not run.postcopy:
            raise MigrationTimeout(f"the migration of {plan.request.name} did not complete within "
                                   f"{plan.settings.completion_timeout:g} s and was aborted",
                                   hint="give it more time (--timeout), limit the guest's memory writes, or allow "
                                        "--on-timeout postcopy") from None
        raise job.error
    assert job.result is not None
    final = vmig.completed_stats(job.result)
    if final is not None:  # the last progress sample is the whole: a short migration shows one too
        run.emit("progress", stats=final)
    return final, run.postcopy


def _apply(run: _Run, job: vmig.LiveMigration, decision) -> None:
    if decision.action is Action.SET_DOWNTIME:
        job.set_max_downtime(decision.value)
    elif decision.action is Action.WARN_STALL:
        run.warn(decision.reason)
    elif decision.action is Action.ABORT:
        run.emit("phase", "abort", decision.reason)
        job.abort()
    elif decision.action is Action.POSTCOPY:
        run.warn(f"{decision.reason}: switching to post-copy; from now on the guest runs on the destination "
                 "and a failure of either host or the link loses it")
        run.note(postcopy=True)  # recorded first: from here on nothing resumes the source
        run.postcopy = True
        job.start_postcopy()


def _transfer_offline(run: _Run, dom: domains.Domain) -> JobStats | None:
    plan = run.plan
    run.emit("phase", "transfer", f"offline, {plan.storage} storage")
    domains.define(run.dest, plan.persist_xml)
    checkpoint("migrate:defined")
    if not plan.request.keep_source:
        run.op.will("domain", plan.request.name, plan.uuid)
        dom.undefine()
    return None


def _finish(run: _Run) -> None:
    """The guest is on the destination: remove the source's copies of its volumes (copy
    mode, unless --keep-source), and let a shared pool's other view see the files."""
    plan = run.plan
    if plan.request.keep_source and not plan.copy:  # the kept definition's disks are the destination's now
        kept = lookup_uuid(run.src, plan.request.name, plan.uuid)
        if kept is not None:
            disown_volumes(kept)
    if plan.copy and not plan.request.keep_source:
        for vol in plan.own_volumes:
            run.op.will("volume", vol.name)
        checkpoint("migrate:finishing")
        _removed, kept = remove_unused_volumes(run.src, run.src_pool, [v.name for v in plan.own_volumes])
        for volume, why in kept.items():
            run.warn(f"kept volume {volume} on the source: {why}")


def _settle_failure(run: _Run, dom_name: str) -> bool:
    """After a failed or interrupted transfer: the guest stays on exactly one host (the
    source, unless the destination already runs it), resumed if the migration left it
    paused; the other host keeps nothing of it. False when something could not be done."""
    try:
        settled = settle_migration(run.src, run.dest, dom_name, run.spec, src_pool=run.src_pool,
                                   dest_pool=run.dest_pool)
    except VmctlError as exc:
        run.warn(f"could not settle {dom_name} on one host: {exc.message}")
        return False
    run.settled = settled
    if run.kept_destination:
        run.op.commit()  # its volumes there are the guest's now
    return run.op.unwind()
