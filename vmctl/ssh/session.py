"""SSH to guests: a pinned-host-key session, commands as argv, SFTP copies, a pty shell.

With :mod:`vmctl.ssh.tunnel`, the only module that imports paramiko (callers import it lazily). Host keys are pinned:
``RejectPolicy`` plus the one pinned key, no known_hosts, no agent, no key search. Every
failure becomes a vmctl error whose message names the stage that failed (port open, SSH
banner, key exchange, host key, authenticated). Key material and environment values never
appear in messages or logs. A session is not thread-safe.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import secrets
import shlex
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko

from vmctl.ssh import transfer
from vmctl.errors import GuestError, HostKeyMismatch, InvalidInput, NotFound, OperationFailed, Timeout, VmctlError
from vmctl.ssh.keys import fingerprint_of_blob
from vmctl.ssh.probe import open_socket
from vmctl.ssh.pty import bridge_terminal, terminal_size
from vmctl.ssh.runner import (Callback, CommandFailed, CommandResult, argv_command, check_argv, display,
                              env_file_content, pump, shell_command)

__all__ = ["CommandFailed", "CommandResult", "SshSession", "SshTarget"]

logging.getLogger("paramiko").addHandler(logging.NullHandler())  # its thread logs raw tracebacks otherwise
log = logging.getLogger("vmctl.ssh")


@dataclass(frozen=True)
class SshTarget:
    """Where and as whom to connect, and which host key to expect."""

    host: str
    port: int
    user: str
    key_path: Path
    host_key: str | None  # pinned "ssh-ed25519 AAAA..." line
    insecure: bool = False  # accept an unpinned key (with a warning); a pinned key is always enforced
    sock_factory: Callable[[], socket.socket] | None = None  # a pre-connected socket


class SshSession:
    """One SSH connection to a target, opened on first use and reused for every call."""

    def __init__(self, target: SshTarget, *, connect_timeout: float = 10.0, banner_timeout: float = 10.0,
                 auth_timeout: float = 10.0) -> None:
        self.target = target
        self.connect_timeout = connect_timeout
        self.banner_timeout = banner_timeout
        self.auth_timeout = auth_timeout
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> SshSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def where(self) -> str:
        return f"{self.target.user}@{self.target.host}:{self.target.port}"

    def connect(self) -> None:
        """Open and authenticate the connection (a no-op while it is up)."""
        if self._client is not None and (t := self._client.get_transport()) is not None and t.is_active():
            return
        self.close()
        target = self.target
        pinned = _parse_key_line(target.host_key) if target.host_key else None
        if pinned is None and not target.insecure:
            raise GuestError(f"no pinned host key for {self.where} (stage: host key)",
                             hint="pin the guest's key (read it through a trusted channel such as the serial "
                                  "console), or pass --insecure to accept an unverified key")
        key = _load_private_key(target.key_path)
        client = paramiko.SSHClient()
        if pinned is not None:
            client.get_host_keys().add(_host_key_name(target), pinned.get_name(), pinned)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(_AcceptUnpinned())
        sock = open_socket(target.host, target.port, self.connect_timeout, target.sock_factory)
        started = time.monotonic()
        try:
            client.connect(target.host, target.port, username=target.user, pkey=key, sock=sock,
                           timeout=self.connect_timeout, banner_timeout=self.banner_timeout,
                           auth_timeout=self.auth_timeout, channel_timeout=self.connect_timeout,
                           allow_agent=False, look_for_keys=False)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            error = self._connect_error(exc, client.get_transport(), time.monotonic() - started)
            client.close()
            sock.close()
            raise error from exc
        self._client = client

    def run(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
            stdin: bytes | BinaryIO | None = None, timeout: float | None = None,
            on_stdout: Callback | None = None, on_stderr: Callback | None = None,
            check: bool = False) -> CommandResult:
        """Run an argument list; every argument arrives literally (``shlex.join``). ``env``
        values reach the command through a 0600 file, never through a command line."""
        args = check_argv(argv)
        env_file = self._env_file(env) if env else None
        _args, command = argv_command(args, env_file)
        return self._execute(args, command, stdin, timeout, on_stdout, on_stderr, check)

    def run_shell(self, script: str, *, env: Mapping[str, str] | None = None,
                  stdin: bytes | BinaryIO | None = None, timeout: float | None = None,
                  on_stdout: Callback | None = None, on_stderr: Callback | None = None,
                  check: bool = False) -> CommandResult:
        """Run ``script`` as shell code in the remote user's shell (POSIX-like when ``env`` is given)."""
        shell_command(script)  # checks the script before anything is uploaded
        env_file = self._env_file(env) if env else None
        return self._execute((script,), shell_command(script, env_file), stdin, timeout, on_stdout, on_stderr,
                             check)

    def put(self, local: Path, remote: str, *, recursive: bool = False,
            on_bytes: transfer.OnBytes | None = None) -> None:
        """Copy a local file or tree to the guest, keeping permission bits (see :mod:`vmctl.ssh.transfer`);
        ``on_bytes(path, done, size)`` hears each file's progress."""
        with self._translate(f"copying {local} to {remote}"):
            transfer.put(self._sftp_client(), Path(local), remote, recursive=recursive, on_bytes=on_bytes)

    def get(self, remote: str, local: Path, *, recursive: bool = False,
            on_bytes: transfer.OnBytes | None = None) -> None:
        """Copy a file or tree from the guest, keeping permission bits."""
        with self._translate(f"copying {remote} from the guest"):
            transfer.get(self._sftp_client(), remote, Path(local), recursive=recursive, on_bytes=on_bytes)

    def interactive(self, argv: Sequence[str] | None = None) -> int:
        """A pty shell (or command) joined to this terminal; returns the remote exit status."""
        in_fd, out_fd = sys.stdin.fileno(), sys.stdout.fileno()
        cols, rows = terminal_size(out_fd)
        chan = self._open_channel("opening a terminal session")
        try:
            with self._translate("opening a terminal session"):
                chan.get_pty(term=os.environ.get("TERM", "vt100"), width=cols, height=rows)
                if argv:
                    chan.exec_command(shlex.join(argv))
                else:
                    chan.invoke_shell()
            with self._translate("the terminal session"):
                return bridge_terminal(chan, in_fd, out_fd)
        finally:
            chan.close()

    def close(self) -> None:
        """Close the connection; a later call connects again."""
        sftp, client, self._sftp, self._client = self._sftp, self._client, None, None
        with contextlib.suppress(Exception):  # closing a dead connection must not fail
            if sftp is not None:
                sftp.close()
        if client is not None:
            client.close()

    # -- internals --------------------------------------------------------------------------------

    def _transport(self) -> paramiko.Transport:
        self.connect()
        assert self._client is not None
        transport = self._client.get_transport()
        assert transport is not None
        return transport

    def _open_channel(self, doing: str) -> paramiko.Channel:
        """A new session channel; if the connection turns out dead, reconnect once (nothing ran yet)."""
        transport = self._transport()
        try:
            return transport.open_session(timeout=self.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if transport.is_active():
                raise self._guest_error(doing, exc) from exc
        self.close()
        with self._translate(doing):
            return self._transport().open_session(timeout=self.connect_timeout)

    def _sftp_client(self) -> paramiko.SFTPClient:
        transport = self._transport()
        if self._sftp is None or self._sftp.get_channel() is None or self._sftp.get_channel().closed:
            self._sftp = paramiko.SFTPClient.from_transport(transport)
        if self._sftp is None:
            raise GuestError(f"{self.where}: the guest refused an SFTP session", hint="is sftp-server installed?")
        return self._sftp

    @contextlib.contextmanager
    def _translate(self, doing: str) -> Iterator[None]:
        """Turn paramiko and socket failures inside the block into a GuestError."""
        try:
            yield
        except VmctlError:
            raise
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._guest_error(doing, exc) from exc

    def _guest_error(self, doing: str, exc: BaseException) -> GuestError:
        return GuestError(f"{self.where}: {doing} failed: {str(exc) or type(exc).__name__}",
                          hint="the SSH connection failed or the guest refused; retry once it is reachable")

    def _env_file(self, env: Mapping[str, str]) -> str:
        """Upload ``env`` as a new 0600 file in the login directory (SFTP and the command
        both start there), created exclusively so nothing planted there is followed; the
        command removes it before it runs. ``./`` keeps the shell's ``.`` off $PATH."""
        content = env_file_content(env)
        path = f"./.vmctl-env-{secrets.token_hex(8)}"
        with self._translate("passing the environment"):
            with self._sftp_client().open(path, "wx") as fh:
                fh.chmod(0o600)
                fh.write(content)
        return path

    def _execute(self, argv: tuple[str, ...], command: str, stdin: bytes | BinaryIO | None, timeout: float | None,
                 on_stdout: Callback | None, on_stderr: Callback | None, check: bool) -> CommandResult:
        shown = display(argv)
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        chan = self._open_channel(f"starting {shown}")
        try:
            with self._translate(f"running {shown}"):
                chan.exec_command(command)
                out, err, finished = pump(chan, stdin, deadline, on_stdout, on_stderr)
        finally:
            chan.close()
        status = chan.exit_status if finished and chan.exit_status_ready() else -1
        result = CommandResult(argv, status, out, err, time.monotonic() - started)
        if not finished:
            tail = result.tail()
            raise Timeout(f"command {shown} did not finish within {timeout:g} s; channel closed",
                          hint="the remote process may still be running" + (f"; last output:\n{tail}" if tail else ""))
        if status == -1:
            raise CommandFailed(result, f"command {shown} ended without an exit status "
                                        "(killed by a signal, or the connection dropped)")
        if check and status != 0:
            raise CommandFailed(result)
        return result

    def _connect_error(self, exc: BaseException, transport: paramiko.Transport | None, elapsed: float) -> VmctlError:
        """The vmctl error for a failed ``SSHClient.connect``, by the stage it reached."""
        where, cause = self.where, exc.__context__
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyMismatch(
                f"host key mismatch for {where}: expected {fingerprint_of_blob(exc.expected_key.asbytes())}, "
                f"got {fingerprint_of_blob(exc.key.asbytes())} (stage: host key)",
                hint="the guest's host key changed (reinstalled, or reverted to an older snapshot) or something "
                     "else answers on that port; re-pin only after checking the key through a trusted channel")
        if isinstance(exc, paramiko.AuthenticationException):
            if "timeout" in str(exc).lower():
                return Timeout(f"{where}: authentication did not finish within {self.auth_timeout:g} s "
                               "(stage: authenticated)")
            return GuestError(f"{where}: public key authentication failed (stage: authenticated)",
                              hint=f"the guest does not accept the key {self.target.key_path} for user "
                                   f"{self.target.user!r}; check that user's authorized_keys")
        if transport is None or not transport.remote_version:
            if isinstance(exc, TimeoutError) or isinstance(cause, TimeoutError) or elapsed >= self.banner_timeout:
                return Timeout(f"{where}: no SSH banner within {self.banner_timeout:g} s (stage: SSH banner)",
                               hint="the port accepts connections but sshd does not answer; the guest may "
                                    "still be booting")
            if isinstance(exc, EOFError) or isinstance(cause, (EOFError, ConnectionError)):
                return GuestError(f"{where}: connection closed before the SSH banner (stage: SSH banner)",
                                  hint="sshd in the guest is not up yet (a port forward accepts, then closes)")
            return GuestError(f"{where}: no SSH server answered: {exc} (stage: SSH banner)")
        if transport.host_key is None:
            if elapsed >= self.connect_timeout:
                return Timeout(f"{where}: key exchange did not finish within {self.connect_timeout:g} s "
                               "(stage: key exchange)")
            return GuestError(f"{where}: key exchange failed: {exc or type(exc).__name__} (stage: key exchange)")
        return GuestError(f"{where}: connection failed: {exc or type(exc).__name__} (stage: authenticated)")


class _AcceptUnpinned(paramiko.MissingHostKeyPolicy):
    """The ``--insecure`` policy: accept an unpinned key once, warn, remember nothing."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        log.warning("--insecure: accepting the unverified host key %s (%s) of %s",
                    fingerprint_of_blob(key.asbytes()), key.get_name(), hostname)


def _host_key_name(target: SshTarget) -> str:
    """The name paramiko looks the host key up by."""
    return target.host if target.port == 22 else f"[{target.host}]:{target.port}"


def _parse_key_line(line: str) -> paramiko.PKey:
    """A public key from ``"<type> <base64> [comment]"``."""
    parts = line.split()
    bad = InvalidInput("the pinned host key is not an OpenSSH public key line",
                       hint='expected "<type> <base64>", e.g. "ssh-ed25519 AAAA..."')
    if len(parts) < 2:
        raise bad
    try:
        blob = base64.b64decode(parts[1], validate=True)
        key = paramiko.PKey.from_type_string(parts[0], blob)
    except (binascii.Error, ValueError, TypeError, IndexError, paramiko.SSHException, paramiko.UnknownKeyType):
        raise bad from None
    if key.asbytes() != blob:
        raise bad
    return key


def _load_private_key(path: Path) -> paramiko.PKey:
    """Load a private key file; errors name the path, never the contents."""
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise NotFound(f"SSH key {path} does not exist") from None
    except (TypeError, paramiko.PasswordRequiredException):
        raise InvalidInput(f"SSH key {path} is encrypted",
                           hint="vmctl needs a key without a passphrase (it does not use an agent)") from None
    except OSError as exc:
        raise OperationFailed(f"cannot read SSH key {path}: {exc.strerror or type(exc).__name__}") from None
    except Exception as exc:  # the key parsers raise many types (ValueError, UnsupportedAlgorithm, ...)
        raise InvalidInput(f"{path} is not a private key vmctl can read ({type(exc).__name__})",
                           hint="use an OpenSSH Ed25519, ECDSA or RSA key") from None
