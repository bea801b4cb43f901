"""Query a running model server (ours or real TF Serving) the way any client would.

Sends real CIFAR-10 test images (or your own PNG/JPEG files) over gRPC with the official
``tensorflow_serving.apis`` stub and over REST with ``{"b64": ...}`` bytes, and prints both
answers side by side. Nothing here imports the server: it is a client, like yours.

    python -m serving.example_client                      # 5 test images, localhost ports
    python -m serving.example_client --image cat.png --label stable
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import numpy as np

from pipeline import configs


def test_images(data_root: Path, count: int) -> tuple[list[bytes], list[str]]:
    """The first ``count`` images of the CIFAR-10 test batch as PNG bytes, with true labels."""
    from ingest import cifar10
    from models import features
    from serving.image_codec import encode_png

    batch = cifar10.load_test(data_root)
    pngs = [encode_png(image) for image in batch.images[:count]]
    return pngs, [features.LABEL_NAMES[int(y)] for y in batch.labels[:count]]


def predict_grpc(target: str, model: str, images: list[bytes], label: str | None,
                 version: int | None, timeout: float) -> tuple[int, list[str]]:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from models import features

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = features.SIGNATURE_IMAGE_BYTES
    if label:
        request.model_spec.version_label = label
    elif version:
        request.model_spec.version.value = version
    request.inputs[features.INPUT_IMAGE_BYTES].CopyFrom(
        tf.make_tensor_proto(images, dtype=tf.string))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    classes = tf.make_ndarray(response.outputs[features.OUTPUT_CLASSES])
    return response.model_spec.version.value, [c.decode() for c in classes]


def predict_rest(url: str, model: str, images: list[bytes], label: str | None,
                 version: int | None, timeout: float) -> list[str]:
    import requests

    from models import features

    path = f"/v1/models/{model}"
    path += f"/labels/{label}" if label else f"/versions/{version}" if version else ""
    body = {"signature_name": features.SIGNATURE_IMAGE_BYTES,
            "instances": [{"b64": base64.b64encode(png).decode()} for png in images]}
    reply = requests.post(f"{url}{path}:predict", json=body, timeout=timeout)
    if reply.status_code != 200:
        raise RuntimeError(f"REST {reply.status_code}: {reply.text}")
    return [row[features.OUTPUT_CLASSES] for row in reply.json()["predictions"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--grpc", default=f"{configs.SERVING_HOST}:{configs.GRPC_PORT}",
                   help="gRPC target host:port")
    p.add_argument("--rest", default=f"http://{configs.SERVING_HOST}:{configs.REST_PORT}",
                   help="REST base URL")
    p.add_argument("--model", default=configs.MODEL_NAME)
    p.add_argument("--label", help="version label, e.g. stable or canary")
    p.add_argument("--version", type=int, help="a specific version")
    p.add_argument("--image", action="append", type=Path, help="PNG/JPEG file (repeatable)")
    p.add_argument("--count", type=int, default=5, help="test images when no --image")
    p.add_argument("--data-root", type=Path, default=configs.SHARED_DATA_ROOT)
    p.add_argument("--timeout", type=float, default=10.0)
    args = p.parse_args(argv)

    try:
        if args.image:
            images, truth = [path.read_bytes() for path in args.image], ["?"] * len(args.image)
        else:
            images, truth = test_images(args.data_root, args.count)
        version, by_grpc = predict_grpc(args.grpc, args.model, images, args.label, args.version,
                                        args.timeout)
        by_rest = predict_rest(args.rest, args.model, images, args.label, args.version,
                               args.timeout)
    except Exception as e:  # noqa: BLE001 - a client prints what went wrong and exits 1
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"model {args.model} version {version}")
    print(f"{'#':>3}  {'true':10s} {'gRPC':10s} {'REST':10s}")
    for i, (t, g, r) in enumerate(zip(truth, by_grpc, by_rest, strict=True)):
        print(f"{i:>3}  {t:10s} {g:10s} {r:10s}")
    agree = np.array_equal(by_grpc, by_rest)
    print("gRPC and REST agree" if agree else "gRPC and REST DISAGREE")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
