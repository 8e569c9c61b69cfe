"""In-process SSH servers on 127.0.0.1 for the ssh tests.

``SshTestServer`` is a real paramiko server: public-key auth for one key, "exec" runs the
command with ``sh -c`` in a temp directory (as sshd hands it to the user's shell), "shell"
runs ``sh``, and the "sftp" subsystem serves that directory. ``RawServer`` accepts TCP
connections and then stays silent or closes them. Everything binds to loopback only and
is stopped (threads joined, children killed) by ``stop()``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

JOIN = 5.0  # every join is bounded


def write_key(path: Path, kind: str = "ed25519") -> paramiko.PKey:
    """Generate a private key, write it in OpenSSH format (0600), return it loaded by paramiko."""
    private = {"ed25519": lambda: ed25519.Ed25519PrivateKey.generate(),
               "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1()),
               "rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)}[kind]()
    data = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                 serialization.NoEncryption())
    path.write_bytes(data)
    path.chmod(0o600)
    return paramiko.PKey.from_path(path)


def key_line(key: paramiko.PKey) -> str:
    """The public ``"<type> <base64>"`` line of a key."""
    return f"{key.get_name()} {key.get_base64()}"


def tree_digest(root: Path) -> dict[str, tuple[int, str]]:
    """Relative path -> (permission bits, sha256 or "dir") for everything under root."""
    out = {}
    for path in sorted(root.rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(root))] = (stat.S_IMODE(path.stat().st_mode), digest)
    return out


def leftover_threads(wait: float = 5.0) -> list[str]:
    """Names of test-server and paramiko threads still alive after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        left = [t.name for t in threading.enumerate()
                if t.name.startswith(("ssh-test", "raw-test")) or type(t).__module__.startswith("paramiko")]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def free_port() -> int:
    """A loopback port with nothing listening on it (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Handle(paramiko.SFTPHandle):
    def stat(self):
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))

    def chattr(self, attr):
        return _RootedSFTP.apply_attrs(self.path, attr)


class _RootedSFTP(paramiko.SFTPServerInterface):
    """A minimal SFTP server confined (by path joining) to one directory."""

    def __init__(self, server, root: Path, *args, **kwargs) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = root

    def _real(self, path: str) -> str:
        return str(self.root / os.path.normpath("/" + path).lstrip("/"))

    @staticmethod
    def _errors(action):
        try:
            return action()
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    @staticmethod
    def apply_attrs(path: str, attr) -> int:
        def apply():
            if attr._flags & attr.FLAG_PERMISSIONS:
                os.chmod(path, attr.st_mode & 0o7777)
            return paramiko.SFTP_OK
        return _RootedSFTP._errors(apply)

    def canonicalize(self, path: str) -> str:
        return os.path.normpath("/" + path)

    def list_folder(self, path: str):
        def listing():
            real = self._real(path)
            return [paramiko.SFTPAttributes.from_stat(os.lstat(os.path.join(real, name)), name)
                    for name in os.listdir(real)]
        return self._errors(listing)

    def stat(self, path: str):
        return self._errors(lambda: paramiko.SFTPAttributes.from_stat(os.stat(self._real(path))))

    def lstat(self, path: str):
        return self._errors(lambda: paramiko.SFTPAttributes.from_stat(os.lstat(self._real(path))))

    def open(self, path: str, flags: int, attr):
        real = self._real(path)

        def opened():
            mode = attr.st_mode & 0o777 if attr._flags & attr.FLAG_PERMISSIONS else 0o644
            fd = os.open(real, flags | getattr(os, "O_BINARY", 0), mode)
            fmode = "rb" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else ("r+b" if flags & os.O_RDWR else "wb")
            if flags & os.O_APPEND:
                fmode = "ab"
            handle = _Handle(flags)
            handle.path = real
            handle.readfile = handle.writefile = os.fdopen(fd, fmode)
            return handle
        return self._errors(opened)

    def remove(self, path: str) -> int:
        return self._errors(lambda: os.remove(self._real(path)) or paramiko.SFTP_OK)

    def rename(self, oldpath: str, newpath: str) -> int:
        return self._errors(lambda: os.rename(self._real(oldpath), self._real(newpath)) or paramiko.SFTP_OK)

    def mkdir(self, path: str, attr) -> int:
        real = self._real(path)
        result = self._errors(lambda: os.mkdir(real) or paramiko.SFTP_OK)
        return result if result != paramiko.SFTP_OK else self.apply_attrs(real, attr)

    def rmdir(self, path: str) -> int:
        return self._errors(lambda: os.rmdir(self._real(path)) or paramiko.SFTP_OK)

    def chattr(self, path: str, attr) -> int:
        return self.apply_attrs(self._real(path), attr)


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: SshTestServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = (not self.server.refuse_auth and username == self.server.user
              and key.asbytes() == self.server.client_key.asbytes())
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel, command: bytes) -> bool:
        self.server.spawn(channel, ["sh", "-c", command.decode()])
        return True

    def check_channel_shell_request(self, channel) -> bool:
        self.server.spawn(channel, ["sh"])
        return True

    def check_channel_pty_request(self, channel, term, width, height, pixelwidth, pixelheight, modes) -> bool:
        self.server.ptys.append((term.decode() if isinstance(term, bytes) else term, width, height))
        return True

    def check_channel_window_change_request(self, channel, width, height, pixelwidth, pixelheight) -> bool:
        return True

    def check_channel_env_request(self, channel, name, value) -> bool:
        return False  # like a default sshd (AcceptEnv unset)

    def check_channel_direct_tcpip_request(self, chanid: int, origin, destination) -> int:
        """Port forwarding (an SSH jump), allowed to loopback destinations only."""
        if not self.server.allow_forwarding or destination[0] != "127.0.0.1":
            return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED
        self.server.forwards.append(tuple(destination))
        return paramiko.OPEN_SUCCEEDED


class SshTestServer:
    """A paramiko SSH server thread on 127.0.0.1:0."""

    def __init__(self, host_key: paramiko.PKey, client_key: paramiko.PKey, root: Path, *,
                 user: str = "tester", refuse_auth: bool = False, allow_forwarding: bool = False) -> None:
        self.host_key, self.client_key, self.root, self.user = host_key, client_key, root, user
        self.refuse_auth = refuse_auth
        self.allow_forwarding = allow_forwarding
        self.forwards: list[tuple[str, int]] = []
        self.accepted = 0
        self.commands: list[str] = []
        self.ptys: list[tuple[str, int, int]] = []
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._transports: list[paramiko.Transport] = []
        self._threads: list[threading.Thread] = []
        self._procs: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept_loop, name="ssh-test-accept", daemon=True)

    def __enter__(self) -> SshTestServer:
        self._acceptor.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as sshd does; keeps round trips fast
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _RootedSFTP, self.root)
            with self._lock:
                self._transports.append(transport)
            transport.start_server(event=threading.Event(), server=_Interface(self))
            if self.allow_forwarding:
                thread = threading.Thread(target=self._forward, args=(transport,), name="ssh-test-fwd", daemon=True)
                with self._lock:
                    self._threads.append(thread)
                thread.start()

    def _forward(self, transport: paramiko.Transport) -> None:
        """Join accepted direct-tcpip channels to their (loopback) destinations.
        The client hanging up mid-copy ends the copy quietly, as sshd does."""
        try:
            self._forward_one(transport)
        except (EOFError, OSError, paramiko.SSHException):
            pass

    def _forward_one(self, transport: paramiko.Transport) -> None:
        channel = transport.accept(timeout=5)
        if channel is None or not self.forwards:
            return
        with socket.create_connection(self.forwards[-1], timeout=5) as dest, channel:
            dest.settimeout(0.05)
            channel.settimeout(0.05)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not self._stop.is_set() and not channel.closed:
                for src, dst in ((channel, dest), (dest, channel)):
                    try:
                        data = src.recv(65536)
                    except (TimeoutError, socket.timeout):
                        continue
                    if not data:
                        return
                    dst.sendall(data)

    def spawn(self, channel, argv: list[str]) -> None:
        """Run argv for a channel in a thread: streams pumped, exit status sent like sshd."""
        self.commands.append(argv[-1])
        thread = threading.Thread(target=self._run, args=(channel, argv), name="ssh-test-exec", daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _run(self, channel, argv: list[str]) -> None:
        proc = subprocess.Popen(argv, cwd=self.root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        with self._lock:
            self._procs.append(proc)

        def copy_out(stream, send) -> None:
            try:
                while data := os.read(stream.fileno(), 32768):
                    send(data)
            except OSError:
                pass  # the client closed the channel

        def copy_in() -> None:
            try:
                while data := channel.recv(32768):
                    proc.stdin.write(data)
                    proc.stdin.flush()
            except OSError:
                pass
            finally:
                try:
                    proc.stdin.close()
                except OSError:
                    pass

        pumps = [threading.Thread(target=copy_out, args=(proc.stdout, channel.sendall), name="ssh-test-out",
                                  daemon=True),
                 threading.Thread(target=copy_out, args=(proc.stderr, channel.sendall_stderr), name="ssh-test-err",
                                  daemon=True),
                 threading.Thread(target=copy_in, name="ssh-test-in", daemon=True)]
        for pump in pumps:
            pump.start()
        returncode = proc.wait()
        for pump in pumps[:2]:
            pump.join(JOIN)
        try:
            channel.shutdown_write()
            if returncode >= 0:  # sshd sends exit-signal, not exit-status, for a killed command
                channel.send_exit_status(returncode)
        finally:
            channel.close()
            pumps[2].join(JOIN)
            proc.stdout.close()
            proc.stderr.close()

    def stop(self) -> None:
        """Stop accepting, kill commands, close transports, join every thread."""
        self._stop.set()
        if self._acceptor.is_alive():
            self._acceptor.join(JOIN)
        self._listener.close()
        with self._lock:
            procs, transports, threads = list(self._procs), list(self._transports), list(self._threads)
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for transport in transports:
            transport.close()
        for thread in threads:
            thread.join(JOIN)
        for proc in procs:
            proc.wait(JOIN)


class RawServer:
    """A TCP listener on 127.0.0.1 that accepts and then stays silent (``close=False``) or hangs up."""

    def __init__(self, *, close: bool = False) -> None:
        self.close_at_once = close
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._loop, name="raw-test-accept", daemon=True)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(JOIN)
        self._listener.close()
        for conn in self._conns:
            conn.close()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            if self.close_at_once:
                conn.close()
            else:
                self._conns.append(conn)
