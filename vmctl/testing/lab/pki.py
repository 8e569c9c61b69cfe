"""TLS certificates for a lab: one CA per lab, a server and a client certificate per
host, in the layout QEMU's ``tls-creds-x509`` wants for migration streams
(``migrate_tls_x509_cert_dir`` in the host's qemu.conf):

    ca-cert.pem  server-cert.pem  server-key.pem  client-cert.pem  client-key.pem

The server certificate names the host's link address (the address the source QEMU
connects to: ``migration_host``) and its hostname. QEMU runs as ``libvirt-qemu``
and reads the keys itself, so the directory is ``root:libvirt-qemu 0750`` and the
keys ``0640``; the CA's private key stays in the lab's root-only state directory.

Uses ``cryptography`` (already installed: paramiko depends on it).
"""

from __future__ import annotations

import datetime
import grp
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

QEMU_GROUP = "libvirt-qemu"
VALID_DAYS = 30


@dataclass(frozen=True)
class CertAuthority:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "vmctl lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS)))


def new_ca(label: str) -> CertAuthority:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(f"vmctl lab CA {label}")
    cert = (_builder(name, name, key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return CertAuthority(key, cert)


def save_ca(ca: CertAuthority, directory: Path) -> None:
    """The CA's key and certificate in a root-only directory (0700, files 0600)."""
    directory.mkdir(mode=0o700, exist_ok=True)
    _write(directory / "ca-key.pem", _key_pem(ca.key), 0o600)
    _write(directory / "ca-cert.pem", ca.cert_pem, 0o600)


def load_ca(directory: Path) -> CertAuthority:
    key = serialization.load_pem_private_key((directory / "ca-key.pem").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return CertAuthority(key, x509.load_pem_x509_certificate((directory / "ca-cert.pem").read_bytes()))


def _issue(ca: CertAuthority, common: str, *, server: bool, address: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(_name(common), ca.cert.subject, key.public_key())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_agreement=True,
                                            content_commitment=False, data_encipherment=False, key_cert_sign=False,
                                            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(common),
                                                           x509.IPAddress(ipaddress.ip_address(address))]),
                              critical=False))
    cert = builder.sign(ca.key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def write_host_certs(ca: CertAuthority, directory: Path, *, hostname: str, address: str) -> None:
    """ca-cert, server and client certificates and keys for one host, readable by QEMU."""
    gid = grp.getgrnam(QEMU_GROUP).gr_gid
    directory.mkdir(mode=0o750, exist_ok=True)
    os.chown(directory, 0, gid)
    directory.chmod(0o750)
    server_cert, server_key = _issue(ca, hostname, server=True, address=address)
    client_cert, client_key = _issue(ca, hostname, server=False, address=address)
    for name, data, mode in (("ca-cert.pem", ca.cert_pem, 0o644), ("server-cert.pem", server_cert, 0o644),
                             ("server-key.pem", server_key, 0o640), ("client-cert.pem", client_cert, 0o644),
                             ("client-key.pem", client_key, 0o640)):
        _write(directory / name, data, mode)
        os.chown(directory / name, 0, gid)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)
