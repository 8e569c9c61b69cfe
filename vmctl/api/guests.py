"""The guest half of :class:`vmctl.api.Vmctl`: SSH access, exec, copy, provisioning (a mixin)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from vmctl.guest.access import GuestAccess
    from vmctl.ops.fanout import FanOutSummary
    from vmctl.provision.plan import ProvisionPlan
    from vmctl.provision.runner import ProvisionResult
    from vmctl.ops.sshconfig import SshConfig
    from vmctl.ssh.runner import CommandResult
    from vmctl.ssh.session import SshSession
    from vmctl.progress import Report

LineWriter = Callable[[str], None]


class GuestApi:
    def guest(self, *, insecure: bool = False) -> "GuestAccess":
        """Guest access on this host (sessions with the pinned keys, readiness waits)."""
        from vmctl.guest.access import GuestAccess

        if insecure:
            import logging

            logging.getLogger("vmctl").warning("--insecure: the guest's SSH host key is NOT checked; anyone answering on its port is trusted")
        return GuestAccess(self.host, insecure=insecure, on_trusted=self._retire_seed_secret)

    def _retire_seed_secret(self, name: str, meta) -> None:
        from vmctl.ops.seed import has_secret_seed, retire_seed_secret

        if has_secret_seed(meta.volumes, name) and (pool := self.pools.find()) is not None:
            retire_seed_secret(self.host, pool, name)

    def running_vm_names(self) -> list[str]:
        """The names of the running VMs vmctl manages on this host."""
        return [vm.name for vm in self.list() if vm.managed and vm.state == "running"]

    def wait(self, name: str, *, until: str = "ssh", timeout: float | None = None,
             insecure: bool = False, on_stage: Callable[[str, float], object] | None = None) -> dict[str, object]:
        """Wait for SSH ('ssh') or the end of boot ('boot'); returns the stage timings.
        ``on_stage(stage, seconds)`` hears of each stage as it is reached."""
        access = self.guest(insecure=insecure)
        ready = access.wait(name, until=until, timeout=timeout, on_stage=on_stage)
        ready.session.close()
        if not insecure:  # authenticated against the pinned key: the guest has its host key
            self._retire_seed_secret(name, access.meta(name))
        return ready.to_dict()

    def session(self, name: str, *, insecure: bool = False) -> "SshSession":
        """A connected SshSession (context manager): run, run_shell, put, get."""
        return self.guest(insecure=insecure).session(name)

    def exec(self, name: str, argv: list[str], *, env=None, timeout: float | None = None,
             stdin: "bytes | BinaryIO | None" = None, insecure: bool = False, out=None, err=None) -> int:
        """Run a command in the guest; returns its exit status. A ``stdin`` stream is read
        while the command runs (never before it started, never waited for at its end)."""
        from vmctl.ops.guest import exec_one

        return exec_one(self.guest(insecure=insecure), name, argv, env=env, timeout=timeout, stdin=stdin,
                        out=out, err=err).exit_status

    def exec_output(self, name: str, argv: list[str], *, env: Mapping[str, str] | None = None,
                    timeout: float | None = None, stdin: "bytes | BinaryIO | None" = None, insecure: bool = False,
                    check: bool = False) -> "CommandResult":
        """Run a command in the guest and return what it did, rather than streaming it: exit
        status, stdout and stderr (bytes), duration. With ``check``, a non-zero exit status
        raises ``CommandFailed`` (a ``GuestError``) whose hint holds the output's last lines."""
        from vmctl.ops.guest import exec_one
        from vmctl.ssh.runner import CommandFailed

        result = exec_one(self.guest(insecure=insecure), name, argv, env=env, timeout=timeout, stdin=stdin)
        if check and result.exit_status != 0:
            raise CommandFailed(result)
        return result

    def exec_many(self, names: list[str], argv: list[str], *, write: LineWriter, env=None,
                  timeout: float | None = None, stdin: "bytes | BinaryIO | None" = None, parallel: int = 4,
                  insecure: bool = False) -> "FanOutSummary":
        """Run a command on several guests at once; ``write`` gets each output line. A
        ``stdin`` stream is read to its end (after the checks) and given to each."""
        from vmctl.ops.guest import exec_many

        for name in names:
            self.info(name)  # unknown names fail before anything runs
        if stdin is not None and not isinstance(stdin, (bytes, bytearray)):
            stdin = stdin.read()
        return exec_many(lambda: self._sibling().guest(insecure=insecure), names, argv, env=env, timeout=timeout,
                         stdin=stdin, parallel=parallel, write=write)

    def copy(self, src: str, dest: str, *, recursive: bool = False, insecure: bool = False,
             progress: "Report | None" = None) -> str:
        """Copy between host and guest over SFTP (``NAME:/path`` names the guest side); returns
        the VM's name. ``progress`` hears each file's bytes (:class:`vmctl.progress.Step`)."""
        from vmctl.ops.guest import copy

        return copy(self.guest(insecure=insecure), src, dest, recursive=recursive, progress=progress)

    def interactive(self, name: str, argv: list[str] | None = None, *, insecure: bool = False) -> int:
        """A shell (or ``argv``) in the guest with a pty, bridged to this terminal; its exit status."""
        with self.session(name, insecure=insecure) as session:
            return session.interactive(argv)

    def check_plan(self, plan: str | Path) -> None:
        """Read and validate a provisioning plan (raises InvalidInput or NotFound), so a
        bad plan is refused before a VM is made for it."""
        from vmctl.provision.plan import load_plan

        load_plan(Path(plan))

    def provision(self, name: str, plan: "str | Path | ProvisionPlan", *, insecure: bool = False, on_event=None,
                  out=None, err=None, record: bool = True) -> "ProvisionResult":
        """Run a provisioning plan's steps in the guest (resumable: completed steps are
        skipped); ``plan`` is a plan file or a parsed ``ProvisionPlan`` (see plan_from_data).
        ``record=False``: run every step and keep no record (a check, e.g. a readiness wait,
        must not replace the record of the VM's provisioning)."""
        from vmctl.ops.guest import provision_one
        from vmctl.provision.plan import ProvisionPlan

        return provision_one(self.guest(insecure=insecure), self.vms, name,
                             plan if isinstance(plan, ProvisionPlan) else Path(plan), on_event=on_event,
                             out=out, err=err, record=record)

    def provision_many(self, names: list[str], plan: str | Path, *, write: LineWriter, parallel: int = 4,
                       insecure: bool = False) -> "FanOutSummary":
        """Provision several guests at once; ``write`` gets each output and progress line."""
        from vmctl.ops.fanout import fan_out
        from vmctl.provision.plan import load_plan

        load_plan(Path(plan))  # a bad file fails once, before any VM is touched
        for name in names:
            self.info(name)

        def action(name: str, sink) -> int:
            with self._sibling() as mine:
                def event(e) -> None:
                    sink.err(f"[{e.step_index}] {e.step_name}: {e.kind}\n".encode())
                mine.provision(name, plan, insecure=insecure, on_event=event, out=sink.out, err=sink.err)
            return 0
        return fan_out(names, action, parallel=parallel, write=write)

    def ssh_config(self, names: list[str] | None = None, *, known_hosts: str | Path | None = None) -> "SshConfig":
        """An OpenSSH config for ``names`` (default: every running vmctl VM with a pinned
        key): ``.text`` for ``ssh -F``, the pinned keys written to ``.known_hosts``."""
        from vmctl.ops.sshconfig import ssh_config

        explicit = bool(names)
        targets = names or self.running_vm_names()
        return ssh_config(self.guest(), targets, explicit=explicit,
                          known_hosts=Path(known_hosts) if known_hosts else None)
