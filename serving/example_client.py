"""Query a running model server (ours or real TF Serving) the way any client would.

Sends images (PNG/JPEG files) over gRPC with the official ``tensorflow_serving.apis`` stub
and over REST with ``{"b64": ...}`` bytes, and prints both answers side by side. Nothing
here imports the server or the project: it is a client, like yours. Signature, input and
output names are flags; a project wrapper can set their defaults (``main(argv, defaults)``).

    python -m serving.example_client --model cifar10 --signature serving_image_bytes \\
        --input image_bytes --output classes --image cat.png [--label stable]
"""

from __future__ import annotations

import argparse
import base64
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving import defaults as serving_defaults
from serving import image_codec
from serving.model_paths import model_url


class ClientError(Exception):
    """What the server (or the network) answered instead of predictions, in its words."""


def predict_grpc(
    target: str,
    model: str,
    images: list[bytes],
    *,
    signature: str,
    input_key: str,
    output_key: str,
    label: str | None = None,
    version: int | None = None,
    timeout: float = 10.0,
    credentials: Any = None,
) -> tuple[int, list[str]]:
    """(version that answered, the output as text per image) over gRPC Predict.

    ``credentials``: ``grpc.ChannelCredentials`` for a TLS server (see :mod:`serving.tls`)."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if label is not None and version is not None:
        raise ClientError("give --label or --version, not both")
    if label is not None:
        request.model_spec.version_label = label
    elif version is not None:
        request.model_spec.version.value = version
    request.inputs[input_key].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    if credentials is not None:
        channel = grpc.secure_channel(target, credentials)
    else:
        channel = grpc.insecure_channel(target)
    with channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as exc:  # the server's words, not a traceback
            raise ClientError(f"gRPC {exc.code().name}: {exc.details()}") from exc
    values = tf.make_ndarray(response.outputs[output_key]).reshape(-1)
    return response.model_spec.version.value, [_text(v) for v in values]


def predict_rest(
    url: str,
    model: str,
    images: list[bytes],
    *,
    signature: str,
    input_key: str,
    output_key: str,
    label: str | None = None,
    version: int | None = None,
    timeout: float = 10.0,
) -> list[str]:
    import requests

    path = model_url(model, version=version, label=label, verb="predict")
    instances = [{input_key: {"b64": base64.b64encode(img).decode()}} for img in images]
    body: dict[str, str | list[dict[str, dict[str, str]]]] = {
        "signature_name": signature,
        "instances": instances,
    }
    try:
        reply = requests.post(f"{url}{path}", json=body, timeout=timeout)
    except requests.RequestException as exc:
        raise ClientError(f"REST {url}: {exc}") from exc
    if reply.status_code != 200:
        try:
            message = reply.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = reply.text
        raise ClientError(f"REST {reply.status_code}: {message}")
    rows = reply.json()["predictions"]
    return [_text(row[output_key] if isinstance(row, dict) else row) for row in rows]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def build_parser(defaults: Mapping[str, Any] | None = None) -> argparse.ArgumentParser:
    d = {
        "grpc": f"{serving_defaults.LOOPBACK}:{serving_defaults.GRPC_PORT}",
        "rest": f"http://{serving_defaults.LOOPBACK}:{serving_defaults.REST_PORT}",
        "model": "default",
        "signature": "serving_default",
        "input": None,
        "output": None,
        **(defaults or {}),
    }
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grpc", default=d["grpc"], help="gRPC target host:port")
    p.add_argument("--rest", default=d["rest"], help="REST base URL")
    p.add_argument("--model", default=d["model"])
    p.add_argument("--signature", default=d["signature"])
    p.add_argument(
        "--input",
        default=d["input"],
        required=d["input"] is None,
        help="input alias taking encoded image bytes",
    )
    p.add_argument(
        "--output", default=d["output"], required=d["output"] is None, help="output alias to print"
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--label", help="version label, e.g. stable or canary")
    which.add_argument("--version", type=int, help="a specific version")
    p.add_argument(
        "--image", action="append", type=Path, default=[], help="PNG/JPEG file (repeatable)"
    )
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--ca_cert", help="gRPC over TLS: CA certificate (PEM) of the server")
    p.add_argument("--client_cert", help="gRPC mutual TLS: this client's certificate (PEM)")
    p.add_argument("--client_key", help="gRPC mutual TLS: this client's private key (PEM)")
    return p


def main(
    argv: list[str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    images: list[bytes] | None = None,
    truth: list[str] | None = None,
) -> int:
    """Run the client; a wrapper may pass ``images`` (and their ``truth``) instead of files."""
    args = build_parser(defaults).parse_args(argv)
    try:
        if args.image:
            # Formats the model's graph cannot decode (WebP, TIFF) go as PNG.
            images = [image_codec.tf_decodable(path.read_bytes()) for path in args.image]
            truth = ["?"] * len(images)
        if not images:
            raise ClientError("no images: pass --image FILE")
        credentials = None
        if args.ca_cert or args.client_cert or args.client_key:
            from serving import tls

            try:
                credentials = tls.channel_credentials(
                    args.ca_cert, args.client_cert, args.client_key
                )
            except tls.TlsConfigError as exc:
                raise ClientError(str(exc)) from exc
        truth = truth or ["?"] * len(images)
        names = dict(
            signature=args.signature,
            input_key=args.input,
            output_key=args.output,
            label=args.label,
            version=args.version,
            timeout=args.timeout,
        )
        version, by_grpc = predict_grpc(
            args.grpc, args.model, images, credentials=credentials, **names
        )
        by_rest = predict_rest(args.rest, args.model, images, **names)
    except (ClientError, OSError) as e:  # a client prints what went wrong and exits 1
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"model {args.model} version {version}")
    print(f"{'#':>3}  {'true':10s} {'gRPC':10s} {'REST':10s}")
    for i, (t, g, r) in enumerate(zip(truth, by_grpc, by_rest, strict=True)):
        print(f"{i:>3}  {t:10s} {g:10s} {r:10s}")
    agree = by_grpc == by_rest
    print("gRPC and REST agree" if agree else "gRPC and REST DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
