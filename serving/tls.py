"""TLS for gRPC, configured the TF Serving way, and the client side of it.

Server: ``--ssl_config_file`` names a text-format ``tensorflow.serving.SSLConfig``::

    server_key: "-----BEGIN PRIVATE KEY-----\\n..."     # PEM text, not a path (as TF Serving)
    server_cert: "-----BEGIN CERTIFICATE-----\\n..."
    custom_ca: "-----BEGIN CERTIFICATE-----\\n..."     # CA that signs client certificates
    client_verify: true                                  # mutual TLS: a client cert is required

With it the gRPC port speaks only TLS. :func:`load_ssl_config` reads and checks the file
(the key must match the certificate; an unusable one stops start-up with a message), and
:func:`server_credentials` turns it into ``grpc.ServerCredentials``.

Client: :func:`channel_credentials` builds ``grpc.ChannelCredentials`` from PEM *file paths*
(CA, and for mutual TLS the client's certificate and key); the rollout router, the release
tooling and :mod:`serving.example_client` use it. ``secure_channel(target, ...)`` opens one.

``python -m serving.tls --server_key K --server_cert C [--custom_ca CA] [--client_verify]``
writes an ``--ssl_config_file`` from PEM files (the Kubernetes Secret in
deploy/serving/k8s-tls/ holds one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.text_proto import parse_text, read_text_proto

SSL_CONFIG_MESSAGE = "tensorflow.serving.SSLConfig"


class TlsConfigError(ValueError):
    """A TLS setting that cannot be used (unreadable file, bad PEM, key not matching)."""


@dataclass(frozen=True)
class SslSettings:
    """The fields of TF Serving's SSLConfig, as PEM bytes."""

    server_key: bytes
    server_cert: bytes
    custom_ca: bytes = b""
    client_verify: bool = False


def _ssl_config_class() -> Any:
    """A message class for SSLConfig (tensorflow_serving/config/ssl_config.proto), built
    from its four fields: the pip package of the APIs does not ship this proto."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    file = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/ssl_config.proto",
        package="tensorflow.serving",
        syntax="proto3",
    )
    message = file.message_type.add(name="SSLConfig")
    string, boolean = (
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    )
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    for number, (name, kind) in enumerate(
        (
            ("server_key", string),
            ("server_cert", string),
            ("custom_ca", string),
            ("client_verify", boolean),
        ),
        start=1,
    ):
        message.field.add(name=name, number=number, type=kind, label=optional)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    descriptor = pool.FindMessageTypeByName(SSL_CONFIG_MESSAGE)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def _settings(msg: Any) -> SslSettings:
    return SslSettings(
        msg.server_key.encode(),
        msg.server_cert.encode(),
        msg.custom_ca.encode(),
        bool(msg.client_verify),
    )


def parse_ssl_config(text: str) -> SslSettings:
    """The SSLConfig in ``text`` (TextProtoError with the parser's line:column report)."""
    return _settings(parse_text(text, _ssl_config_class()()))


def check_server_settings(settings: SslSettings) -> None:
    """Refuse settings gRPC would only fail on at the first handshake: a key or certificate
    that is missing or does not parse, a key that does not match its certificate, a
    client_verify without a CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    if not settings.server_key.strip() or not settings.server_cert.strip():
        raise TlsConfigError("SSLConfig needs both server_key and server_cert (PEM text)")
    try:
        key = serialization.load_pem_private_key(settings.server_key, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsConfigError(
            f"server_key is not a usable unencrypted PEM private key: {exc}"
        ) from exc
    try:
        cert = x509.load_pem_x509_certificate(settings.server_cert)
    except ValueError as exc:
        raise TlsConfigError(f"server_cert is not a PEM certificate: {exc}") from exc
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if key.public_key().public_bytes(encoding, public) != cert.public_key().public_bytes(
        encoding, public
    ):
        raise TlsConfigError("server_key does not match the public key of server_cert")
    if settings.client_verify and not settings.custom_ca.strip():
        raise TlsConfigError("client_verify needs custom_ca: the CA that signs client certificates")
    if settings.custom_ca.strip():
        try:
            x509.load_pem_x509_certificates(settings.custom_ca)
        except ValueError as exc:
            raise TlsConfigError(f"custom_ca is not a PEM certificate: {exc}") from exc


def load_ssl_config(path: str | Path) -> SslSettings:
    """Read, parse and check ``--ssl_config_file`` (TextProtoError, TlsConfigError)."""
    settings = _settings(read_text_proto(path, _ssl_config_class()()))
    check_server_settings(settings)
    return settings


def server_credentials(settings: SslSettings) -> Any:
    """``grpc.ServerCredentials``: TLS only; with client_verify, a client certificate signed
    by custom_ca is required (TF Serving's REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY)."""
    import grpc

    return grpc.ssl_server_credentials(
        [(settings.server_key, settings.server_cert)],
        root_certificates=settings.custom_ca or None,
        require_client_auth=settings.client_verify,
    )


def _read_pem(path: str | Path | None, what: str) -> bytes | None:
    if path is None or path == "":
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"cannot read the {what} {path}: {exc.strerror or exc}") from exc
    if b"-----BEGIN " not in data:
        raise TlsConfigError(f"the {what} {path} is not a PEM file")
    return data


def channel_credentials(
    ca_cert: str | Path | None = None,
    client_cert: str | Path | None = None,
    client_key: str | Path | None = None,
) -> Any:
    """``grpc.ChannelCredentials`` from PEM files: the CA that signed the server's
    certificate (None: the system's roots) and, for mutual TLS, this client's certificate
    and key (both or neither)."""
    import grpc

    if bool(client_cert) != bool(client_key):
        raise TlsConfigError("give both the client certificate and its key, or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=_read_pem(ca_cert, "CA certificate"),
        private_key=_read_pem(client_key, "client key"),
        certificate_chain=_read_pem(client_cert, "client certificate"),
    )


def secure_channel(target: str, credentials: Any, options: Any = None) -> Any:
    """A gRPC channel to ``target`` over TLS (``credentials`` from channel_credentials)."""
    import grpc

    return grpc.secure_channel(target, credentials, options=options)


def ssl_config_text(
    server_key: bytes, server_cert: bytes, custom_ca: bytes = b"", client_verify: bool = False
) -> str:
    """An SSLConfig text proto with the PEM contents inline, as TF Serving reads it."""
    from google.protobuf import text_format

    msg = _ssl_config_class()(
        server_key=server_key.decode(),
        server_cert=server_cert.decode(),
        custom_ca=custom_ca.decode(),
        client_verify=client_verify,
    )
    return text_format.MessageToString(msg)


def main(argv: list[str] | None = None) -> int:
    """``python -m serving.tls --server_key K --server_cert C [--custom_ca CA] [--client_verify]``
    prints the ``--ssl_config_file`` for those PEM files (checked as the server checks it)."""
    import argparse
    import sys

    p = argparse.ArgumentParser(prog="python -m serving.tls", description=main.__doc__)
    p.add_argument("--server_key", required=True, type=Path, help="PEM private key")
    p.add_argument("--server_cert", required=True, type=Path, help="PEM certificate (chain)")
    p.add_argument("--custom_ca", type=Path, help="PEM CA that signs client certificates")
    p.add_argument("--client_verify", action="store_true", help="require client certificates")
    args = p.parse_args(argv)
    try:
        settings = SslSettings(
            _read_pem(args.server_key, "server key") or b"",
            _read_pem(args.server_cert, "server certificate") or b"",
            _read_pem(args.custom_ca, "CA certificate") or b"",
            args.client_verify,
        )
        check_server_settings(settings)
    except TlsConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(
        ssl_config_text(
            settings.server_key, settings.server_cert, settings.custom_ca, settings.client_verify
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
