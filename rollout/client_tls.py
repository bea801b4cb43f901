"""How rollout's clients reach a model server over TLS: the CA that signed the server's
certificate and, for mutual TLS, the client's certificate and key (PEM file paths).

One object for the three options of ``cifar10-rollout route``/``start`` and
``cifar10-release`` (``--ca-cert``, ``--client-cert``, ``--client-key``, the names of
:mod:`serving.example_client`), turned into what each transport needs: gRPC channel
credentials (:func:`serving.tls.channel_credentials`, the serving package's client helper),
an ``ssl.SSLContext`` for the router's aiohttp session to an ``https://`` REST upstream,
and ``requests`` keyword arguments for the REST helpers. TF Serving serves TLS on gRPC only;
REST over ``https://`` is for a TLS-terminating proxy in front of it.
"""

from __future__ import annotations

import argparse
import ssl
from dataclasses import dataclass
from typing import Any

from serving import tls


@dataclass(frozen=True)
class ClientTls:
    ca_cert: str | None = None
    client_cert: str | None = None
    client_key: str | None = None

    def __post_init__(self) -> None:
        if bool(self.client_cert) != bool(self.client_key):
            raise tls.TlsConfigError(
                "give both --client-cert and --client-key (mutual TLS), or neither"
            )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ClientTls | None:
        """The options given on a command line; None when none was (plaintext)."""
        found = cls(args.ca_cert, args.client_cert, args.client_key)
        return found if any((found.ca_cert, found.client_cert)) else None

    def grpc_credentials(self) -> Any:
        """``grpc.ChannelCredentials`` (files read and checked now, so a bad path or PEM
        is reported at start-up, not at the first request)."""
        return tls.channel_credentials(self.ca_cert, self.client_cert, self.client_key)

    def ssl_context(self) -> ssl.SSLContext:
        """For an ``https://`` REST upstream: verify it with the CA, present the client
        certificate when one is given."""
        try:
            context = ssl.create_default_context(cafile=self.ca_cert or None)
            if self.client_cert and self.client_key:
                context.load_cert_chain(self.client_cert, self.client_key)
        except (OSError, ssl.SSLError) as e:
            raise tls.TlsConfigError(f"TLS files unusable: {e}") from e
        return context

    def requests_kwargs(self) -> dict[str, Any]:
        """``verify``/``cert`` for the ``requests`` calls to an ``https://`` server."""
        kwargs: dict[str, Any] = {}
        if self.ca_cert:
            kwargs["verify"] = self.ca_cert
        if self.client_cert and self.client_key:
            kwargs["cert"] = (self.client_cert, self.client_key)
        return kwargs


def add_arguments(parser: argparse.ArgumentParser, what: str = "the model server") -> None:
    """``--ca-cert``, ``--client-cert``, ``--client-key`` for talking TLS to ``what``."""
    group = parser.add_argument_group(f"TLS to {what}")
    group.add_argument(
        "--ca-cert",
        help=f"PEM CA certificate that signed {what}'s certificate: connect over TLS "
        "(gRPC; REST when its URL is https://)",
    )
    group.add_argument("--client-cert", help="PEM client certificate, for mutual TLS")
    group.add_argument("--client-key", help="PEM key of --client-cert")


def requests_kwargs(client_tls: ClientTls | None) -> dict[str, Any]:
    return {} if client_tls is None else client_tls.requests_kwargs()
