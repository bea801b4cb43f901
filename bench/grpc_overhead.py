"""Where a batch-1 gRPC Predict spends its time: the raw signature call, our request
handler alone, a trivial gRPC round trip (GetModelStatus) and a full gRPC Predict, all in
one process on the same model and image (so the differences are the layers, not the OS).

    python -m bench.grpc_overhead --model-dir <a pushed version dir>
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402

from models import features  # noqa: E402
from models.dataset import from_model  # noqa: E402
from pipeline import configs  # noqa: E402


def per_call_ms(call: Callable[[], object], n: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        call()
    start = time.perf_counter()
    for _ in range(n):
        call()
    return (time.perf_counter() - start) / n * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", type=Path, required=True, help="a SavedModel version dir")
    p.add_argument("--calls", type=int, default=300)
    args = p.parse_args(argv)

    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import (
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    from serving.data_plane import ModelRef
    from serving.server import ModelServer

    base = Path(tempfile.mkdtemp()) / configs.MODEL_NAME
    base.mkdir()
    (base / "1").symlink_to(args.model_dir.resolve(), target_is_directory=True)
    image = np.random.default_rng(0).integers(
        0, 256, (1, *from_model(args.model_dir).image_shape), np.uint8
    )
    signature = tf.saved_model.load(str(args.model_dir)).signatures[features.SIGNATURE_IMAGES]
    server = ModelServer(
        model_name=configs.MODEL_NAME, model_base_path=base, grpc_port=0, rest_port=0
    ).start()
    try:
        plane = server.plane

        def through_handler() -> None:
            with plane.track("grpc", "predict", configs.MODEL_NAME) as t:
                plane.predict(
                    t,
                    ModelRef(configs.MODEL_NAME),
                    features.SIGNATURE_IMAGES,
                    lambda _sig: {features.INPUT_IMAGES: image},
                )

        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = configs.MODEL_NAME
        predict.model_spec.signature_name = features.SIGNATURE_IMAGES
        predict.inputs[features.INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(image))
        status = get_model_status_pb2.GetModelStatusRequest()
        status.model_spec.name = configs.MODEL_NAME
        with grpc.insecure_channel(server.grpc_target) as channel:
            predictions = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            models = model_service_pb2_grpc.ModelServiceStub(channel)
            rows = [
                (
                    "raw signature call",
                    lambda: {k: v.numpy() for k, v in signature(images=tf.constant(image)).items()},
                ),
                ("request handler (no gRPC)", through_handler),
                ("gRPC GetModelStatus", lambda: models.GetModelStatus(status, timeout=10)),
                ("gRPC Predict", lambda: predictions.Predict(predict, timeout=10)),
            ]
            print(f"batch 1, {args.calls} calls each, one process")
            for name, call in rows:
                print(f"{name:28s} {per_call_ms(call, args.calls):6.2f} ms/call")
    finally:
        server.stop(grace=1)
        shutil.rmtree(base.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
