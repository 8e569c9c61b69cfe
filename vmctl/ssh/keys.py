"""SSH keys on the host side: the user's key pair and per-VM host keys.

The user's Ed25519 key lives in ``$XDG_DATA_HOME/vmctl/keys/`` (dir 0700, files
0600). Each VM gets a host key generated here and handed to the guest in its
NoCloud seed, so vmctl knows the guest's key before the first connection and
can pin it: an unknown key is never accepted on first sight.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from vmctl.errors import InvalidInput, NotFound


@dataclass(frozen=True)
class KeyPair:
    private_openssh: str  # secret: never logged, only written 0600 or into a 0600 seed
    public_line: str      # "ssh-ed25519 AAAA..."

    def __repr__(self) -> str:  # keep the secret out of tracebacks and logs
        return f"KeyPair(public_line={self.public_line!r})"


def generate_ed25519(comment: str = "") -> KeyPair:
    from cryptography.hazmat.primitives import serialization  # ~15 ms: only when creating
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    return KeyPair(private, f"{public} {comment}".strip())


def fingerprint(public_line: str) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
    parts = public_line.split()
    if len(parts) < 2:
        raise InvalidInput(f"not an SSH public key: {public_line[:40]!r}", hint="expected 'TYPE BASE64 [comment]'")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        raise InvalidInput("SSH public key is not valid base64", hint="check the key file") from None
    return fingerprint_of_blob(blob)


def fingerprint_of_blob(blob: bytes) -> str:
    """``SHA256:...`` of a public key's wire-format bytes."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def strip_comment(public_line: str) -> str:
    return " ".join(public_line.split()[:2])


def default_key_dir() -> Path:
    from platformdirs import user_data_path

    return user_data_path("vmctl") / "keys"


def ensure_user_key(key_dir: Path | None = None) -> Path:
    """The user's private key path, generating the pair on first use (0600 files, 0700 dir).

    Two first runs at once must not write halves of different pairs: the check and
    the writing happen under an exclusive lock, each file is written whole and
    renamed into place (public half first, private last: a private key present
    means the pair is complete), and the pair is checked before it is used."""
    import fcntl

    key_dir = key_dir or default_key_dir()
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(key_dir, 0o700)
    private = key_dir / "id_ed25519"
    lock_fd = os.open(key_dir / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if not private.exists():
            pair = generate_ed25519("vmctl")
            _write_secret(private.with_suffix(".pub"), pair.public_line + "\n", mode=0o644)
            _write_secret(private, pair.private_openssh)
        _check_pair(private)
    finally:
        os.close(lock_fd)
    return private


@functools.lru_cache(maxsize=8)
def _check_pair(private: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    pub = Path(str(private) + ".pub")
    try:
        key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise InvalidInput(f"{private} is not an unencrypted OpenSSH private key",
                           hint="remove it (and its .pub) to let vmctl make a new pair") from None
    derived = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    if pub.is_file() and strip_comment(pub.read_text().strip()) != derived.decode():
        raise InvalidInput(f"{pub} does not belong to {private}",
                           hint="remove both files to let vmctl make a new pair")


def public_line_of(private_key: Path) -> str:
    """The public key line for a private key file (its .pub, else derived from the key)."""
    if not private_key.is_file():
        raise NotFound(f"no SSH key file {private_key}", hint="give --ssh-key PATH of a private key")
    pub = Path(str(private_key) + ".pub")
    if pub.is_file():
        return strip_comment(pub.read_text().strip())
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(private_key.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise InvalidInput(f"{private_key} is not an unencrypted OpenSSH private key",
                           hint="vmctl needs a key without passphrase, e.g. ssh-keygen -t ed25519 -N ''") from None
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                         serialization.PublicFormat.OpenSSH).decode()


def _write_secret(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
