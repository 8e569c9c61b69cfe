"""Guest use cases over SSH: exec (one VM or many), copy, provisioning."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from vmctl.errors import GuestError, HostKeyMismatch, InvalidInput, Timeout
from vmctl.ops.fanout import FanOutSummary, LineSink, fan_out
from vmctl.guest.access import GuestAccess
from vmctl.ops.vms import Vms
from vmctl.progress import Report, Step, reporter
from vmctl.spec.names import NAME_RE

if TYPE_CHECKING:
    from vmctl.provision.plan import ProvisionPlan
    from vmctl.provision.runner import ProvisionEvent, ProvisionResult
    from vmctl.ssh.session import CommandResult, SshSession

Writer = Callable[[bytes], None]
_REMOTE = re.compile(r"^([a-z0-9][a-z0-9_.-]{0,62}):(.*)$")


def exec_one(access: GuestAccess, name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             timeout: float | None = None, stdin: "bytes | BinaryIO | None" = None, out: Writer | None = None,
             err: Writer | None = None) -> "CommandResult":
    """Run ``argv`` in one guest, streaming its output; the result carries its exit status."""
    with access.session(name) as session:
        return session.run(argv, env=env, stdin=stdin, timeout=timeout, on_stdout=out, on_stderr=err)


def exec_many(access_for: Callable[[], GuestAccess], names: Sequence[str], argv: Sequence[str], *,
              env: Mapping[str, str] | None = None, timeout: float | None = None, stdin: bytes | None = None,
              parallel: int = 4, write: Callable[[str], None]) -> FanOutSummary:
    """Run ``argv`` on several guests at once, output lines prefixed with the VM name.
    ``access_for`` gives each worker its own libvirt connection."""
    def action(name: str, sink: LineSink) -> int:
        access = access_for()
        try:
            with access.session(name) as session:
                sink.on_cancel(session.close)  # an interrupted fan-out closes the running sessions
                result = session.run(argv, env=env, stdin=stdin, timeout=timeout, on_stdout=sink.out,
                                     on_stderr=sink.err)
        finally:
            access.host.close()
        return result.exit_status

    return fan_out(names, action, parallel=parallel, write=write)


def split_remote(spec: str) -> tuple[str | None, str]:
    """'NAME:/path' -> (NAME, '/path'); a local path -> (None, path)."""
    match = _REMOTE.match(spec)
    if match and NAME_RE.match(match.group(1)):
        return match.group(1), match.group(2) or "."
    return None, spec


def copy(access: GuestAccess, src: str, dest: str, *, recursive: bool = False, progress: Report | None = None) -> str:
    """Copy host <-> guest over SFTP; exactly one side is NAME:/path. Returns the VM name.
    ``progress`` hears each file's bytes (stage: ``copying PATH``)."""
    src_vm, src_path = split_remote(src)
    dest_vm, dest_path = split_remote(dest)
    if (src_vm is None) == (dest_vm is None):
        raise InvalidInput("vmctl cp needs exactly one side of the form NAME:/path",
                           hint="e.g. vmctl cp ./app.conf web1:/etc/app.conf, or vmctl cp web1:/var/log/x.log .")
    name = src_vm or dest_vm
    report = reporter(progress)

    def on_bytes(path: str, done: int, size: int) -> None:
        report(Step(f"copying {path}", done, size))
    with access.session(name) as session:  # type: ignore[arg-type]
        if src_vm:
            local = Path(dest_path)
            if local.is_dir():
                local = local / Path(src_path.rstrip("/")).name
            session.get(src_path, local, recursive=recursive, on_bytes=on_bytes)
        else:
            session.put(Path(src_path), dest_path, recursive=recursive, on_bytes=on_bytes)
    return name  # type: ignore[return-value]


class SessionGuest:
    """The provisioning executor's view of one guest (vmctl.provision.runner.GuestOps)."""

    def __init__(self, access: GuestAccess, vms: Vms, name: str) -> None:
        self.access, self.vms, self.name = access, vms, name
        self.session: SshSession = access.session(name)

    def close(self) -> None:
        self.session.close()

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None, timeout: float | None,
            shell: bool = False, on_stdout: Writer | None = None, on_stderr: Writer | None = None):
        if shell:
            return self.session.run_shell(argv[0], env=env, timeout=timeout, on_stdout=on_stdout,
                                          on_stderr=on_stderr)
        return self.session.run(argv, env=env, timeout=timeout, on_stdout=on_stdout, on_stderr=on_stderr)

    def put(self, local: Path, remote: str, *, recursive: bool) -> None:
        self.session.put(local, remote, recursive=recursive)

    def file_exists(self, path: str) -> bool:
        return self.session.run(["test", "-e", path], timeout=30).exit_status == 0

    def port_listening(self, port: int) -> bool:
        result = self.session.run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], timeout=30)
        return port in listening_ports(result.stdout.decode("ascii", "replace"))

    def reboot_and_wait(self, timeout: float) -> None:
        """Reboot through libvirt and wait until the guest is back with a new boot id.
        (Until it goes down, the old boot still answers: the boot id tells them apart.)"""
        before = self._boot_id()
        self.session.close()
        self.vms.reboot(self.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ready = self.access.wait(self.name, until="boot", timeout=max(1.0, deadline - time.monotonic()))
                self.session = ready.session
                if self._boot_id() != before:
                    return
                self.session.close()
            except HostKeyMismatch:
                raise
            except (GuestError, Timeout):
                pass  # going down or not up yet
            time.sleep(1.0)
        raise Timeout(f"{self.name} did not come back within {timeout:.0f} s of a reboot",
                      hint=f"see `vmctl console {self.name}`")

    def _boot_id(self) -> str:
        return self.session.run(["cat", "/proc/sys/kernel/random/boot_id"], timeout=30).stdout.decode().strip()


def listening_ports(proc_net_tcp: str) -> set[int]:
    """Local ports in LISTEN state (0A) from /proc/net/tcp{,6} text."""
    ports = set()
    for line in proc_net_tcp.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[3] == "0A" and ":" in fields[1]:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def provision_one(access: GuestAccess, vms: Vms, name: str, plan_path: "Path | ProvisionPlan", *,
                  on_event: Callable[["ProvisionEvent"], None] | None = None,
                  out: Writer | None = None, err: Writer | None = None, record: bool = True) -> "ProvisionResult":
    from vmctl.provision.plan import ProvisionPlan, load_plan
    from vmctl.provision.runner import run_plan
    from vmctl.provision.state import MemoryState, MetadataState

    plan = plan_path if isinstance(plan_path, ProvisionPlan) else load_plan(plan_path)
    guest = SessionGuest(access, vms, name)
    state = MetadataState(lambda: vms.info_meta(name).provisioned,
                          lambda done: vms.update_meta(name, provisioned=done)) if record else MemoryState()
    try:
        return run_plan(plan, guest, state, on_event=on_event, on_stdout=out, on_stderr=err)
    finally:
        guest.close()
