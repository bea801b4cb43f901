"""Throw-away certificates for the TLS tests: a CA, a server certificate for 127.0.0.1 and
localhost, and client certificates (made with the ``cryptography`` package)."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes

    def write(self, folder: Path, stem: str) -> tuple[Path, Path]:
        cert, key = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        return cert, key


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _build(
    subject: str, issuer: x509.Name, issuer_key, key, *, ca: bool, sans=()
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Authority:
    """A certificate authority that signs server and client certificates."""

    def __init__(self, name: str = "test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._name = _name(name)
        cert = _build(name, self._name, self._key, self._key, ca=True)
        self.pem = _pem(cert, self._key)

    def server(self) -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        sans = (x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        return _pem(_build("localhost", self._name, self._key, key, ca=False, sans=sans), key)

    def client(self, name: str = "client") -> Pem:
        key = ec.generate_private_key(ec.SECP256R1())
        return _pem(_build(name, self._name, self._key, key, ca=False), key)


def ssl_config_text(server: Pem, ca: Pem | None = None, client_verify: bool = False) -> str:
    """TF Serving's SSLConfig text for these certificates (serving.tls writes it)."""
    from serving import tls

    return tls.ssl_config_text(server.key, server.cert, ca.cert if ca else b"", client_verify)
