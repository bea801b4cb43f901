"""Where a serving request's time goes besides the model: each codec stage of the three
protocols timed alone at batch 32, and the cyclic GC's pauses with and without the loaded
objects frozen (``serving.heap``).

    .venv/bin/python -m bench.serving_codec_profile [--model-dir DIR] [--repeats 50]

Stages are timed in this process on the same images and model as ``bench.bench_serving``
(medians over ``--repeats`` calls): v1 gRPC tensor decode and typed-field answer, v1 REST
b64 and pixel-list decoding, OIP raw decode and encode, and the session call itself.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

import numpy as np  # noqa: E402

from bench.bench_serving import build_reference_shaped, load_images  # noqa: E402
from models import features  # noqa: E402
from serving.image_codec import encode_png  # noqa: E402


def median_ms(call: Callable[[], object], repeats: int) -> float:
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000


def gc_pauses(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(max, mean) ms of ``call`` over ``repeats`` calls (GC pauses land in some of them)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return max(times) * 1000, float(np.mean(times)) * 1000


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", help="a SavedModel version dir (default: build one)")
    p.add_argument("--repeats", type=int, default=50)
    args = p.parse_args(argv)

    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from serving import heap, inference, rest_json, tensor_proto
    from serving.oip import datatypes
    from serving.servable import Servable

    model_dir = Path(args.model_dir or build_reference_shaped(Path(tempfile.mkdtemp()) / "1"))
    gc.unfreeze()
    servable = Servable("m", 1, model_dir)
    servable.load(None)
    images = load_images(32)
    pngs = [encode_png(i) for i in images]
    sig_images = servable.signatures[features.SIGNATURE_IMAGES]
    sig_bytes = servable.signatures[features.SIGNATURE_IMAGE_BYTES]
    outputs = inference.predict(servable, sig_images, {features.INPUT_IMAGES: images})

    grpc_request = predict_pb2.PredictRequest()
    grpc_request.inputs[features.INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(images))
    b64_doc = rest_json.parse_body(
        json.dumps({"instances": [{"b64": base64.b64encode(b).decode()} for b in pngs]}).encode()
    )
    lists_body = json.dumps({"inputs": images.tolist()}).encode()
    lists_doc = rest_json.parse_body(lists_body)
    raw = images.tobytes()
    uint8 = datatypes.BY_NAME["UINT8"]

    def typed_answer() -> None:
        response = predict_pb2.PredictResponse()
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tensor_proto.to_proto(value))

    stages = [
        (
            "session call, serving_images",
            lambda: inference.predict(servable, sig_images, {features.INPUT_IMAGES: images}),
        ),
        (
            "session call, serving_image_bytes",
            lambda: inference.predict(
                servable, sig_bytes, {features.INPUT_IMAGE_BYTES: np.array(pngs, dtype=object)}
            ),
        ),
        ("v1 gRPC: tensor decode", lambda: tensor_proto.to_arrays(grpc_request.inputs)),
        ("v1 gRPC: typed-field answer", typed_answer),
        ("v1 REST b64: decode 32 PNGs", lambda: rest_json.request_inputs(b64_doc, sig_bytes)),
        ("v1 REST lists: JSON parse", lambda: rest_json.parse_body(lists_body)),
        ("v1 REST lists: to numpy", lambda: rest_json.request_inputs(lists_doc, sig_images)),
        ("v1 REST answer JSON", lambda: rest_json.dumps(rest_json.predict_response(outputs, True))),
        ("OIP raw decode", lambda: datatypes.from_raw(raw, "x", uint8, images.shape)),
        ("OIP raw encode (outputs)", lambda: [datatypes.to_raw(v) for v in outputs.values()]),
    ]
    heap.freeze_long_lived()  # as the server does after a load
    print(f"batch 32, median of {args.repeats} calls each (loaded objects frozen)")
    for name, call in stages:
        print(f"  {name:<36} {median_ms(call, args.repeats):8.3f} ms")

    def decode_lists() -> None:
        rest_json.request_inputs(rest_json.parse_body(lists_body), sig_images)

    tracked = len(gc.get_objects()) + gc.get_freeze_count()
    print(f"GC: {tracked} objects tracked with TensorFlow and the model loaded")
    gc.unfreeze()
    slow = gc_pauses(decode_lists, args.repeats)
    t0 = time.perf_counter()
    heap.freeze_long_lived()  # what each version load now costs, once
    freeze_ms = (time.perf_counter() - t0) * 1000
    fast = gc_pauses(decode_lists, args.repeats)
    print(
        f"  pixel-list decode, max / mean over {args.repeats}: "
        f"{slow[0]:.1f} / {slow[1]:.1f} ms unfrozen, {fast[0]:.1f} / {fast[1]:.1f} ms frozen"
    )
    print(f"  serving.heap.freeze_long_lived (collect + freeze, once per load): {freeze_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
