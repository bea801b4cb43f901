"""Read what the router needs out of predict payloads: request images (for drift) and
predicted classes (for per-version metrics).

Requests are decoded by the model server's own decoders (:mod:`serving.rest_json`,
:mod:`serving.tensor_proto`), against the input specs of the model's three serving
signatures (models/features.py), so the router reads every encoding the server accepts
(row or columnar JSON, standard or URL-safe base64, every tensor dtype and field form) and
refuses what the server refuses. The router calls these off its event loop (drift
sampling runs on a worker thread); a payload that cannot be read only misses the drift
sample or the class counts, the request itself is forwarded untouched.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from tensorflow.core.framework import types_pb2

from models import features
from serving import rest_json, tensor_proto
from serving.errors import ServingError
from serving.image_codec import decode_image
from serving.signatures import PREDICT_METHOD, Signature, TensorSpec

_STRING = np.dtype(object)
# The inputs of the exported model's signatures (models/model.py), one per signature.
INPUTS = {
    features.INPUT_IMAGES: TensorSpec(
        features.INPUT_IMAGES,
        f"{features.INPUT_IMAGES}:0",
        types_pb2.DT_UINT8,
        np.dtype(np.uint8),
        (None, None, None, None),  # [N, H, W, C] at the served model's own input size
    ),
    features.INPUT_IMAGE_BYTES: TensorSpec(
        features.INPUT_IMAGE_BYTES,
        f"{features.INPUT_IMAGE_BYTES}:0",
        types_pb2.DT_STRING,
        _STRING,
        (None,),
    ),
    features.INPUT_EXAMPLES: TensorSpec(
        features.INPUT_EXAMPLES,
        f"{features.INPUT_EXAMPLES}:0",
        types_pb2.DT_STRING,
        _STRING,
        (None,),
    ),
}
SIGNATURE_INPUT = {
    features.SIGNATURE_IMAGES: features.INPUT_IMAGES,
    features.SIGNATURE_IMAGE_BYTES: features.INPUT_IMAGE_BYTES,
    features.SIGNATURE_EXAMPLES: features.INPUT_EXAMPLES,
}


def _signature(key: str) -> Signature:
    return Signature(key, PREDICT_METHOD, {key: INPUTS[key]}, {})


def _rest_input_key(doc: dict[str, Any]) -> str | None:
    """The image input a REST body feeds: named by ``signature_name``, else by the keys of
    its objects; bare values go to the default signature, as in TF Serving."""
    if "signature_name" in doc:
        return SIGNATURE_INPUT.get(doc["signature_name"])
    data = doc.get("instances", doc.get("inputs"))
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict) and not rest_json.is_b64(data):
        known = [k for k in data if k in INPUTS]
        return known[0] if len(known) == 1 else None
    return SIGNATURE_INPUT[features.SIGNATURE_EXAMPLES]


def _images(key: str, values: np.ndarray) -> np.ndarray | None:
    """uint8 [N, H, W, C] (C 1 or 3) from one decoded input; None when the images are not of
    one shape (encoded images of several sizes) or not images at all."""
    if key == features.INPUT_IMAGES:
        images = values if values.dtype == np.uint8 else None
    else:
        encoded = [
            _image_bytes_of_example(v) if key == features.INPUT_EXAMPLES else v
            for v in values.ravel()
        ]
        decoded = [decode_image(b) for b in encoded if b is not None]
        if len({d.shape for d in decoded}) != 1:
            return None
        images = np.stack(decoded)
    if images is None or images.ndim != 4 or images.shape[-1] not in (1, 3):
        return None
    return images if len(images) else None


def _image_bytes_of_example(serialized: bytes) -> bytes | None:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    values = example.features.feature[features.IMAGE_KEY].bytes_list.value
    return values[0] if values else None


def images_from_rest(body: bytes) -> np.ndarray | None:
    """uint8 [N, H, W, C] from a REST predict body; None when it feeds no image input.

    Raises :class:`~serving.errors.ServingError` for a body the server would refuse."""
    doc = rest_json.parse_body(body)
    key = _rest_input_key(doc)
    if key is None:
        return None
    inputs, _ = rest_json.request_inputs(doc, _signature(key))
    return _images(key, inputs[key])


def images_from_grpc(request) -> np.ndarray | None:
    """uint8 [N, H, W, C] from a ``PredictRequest``; None when it feeds no image input."""
    key = SIGNATURE_INPUT.get(request.model_spec.signature_name or features.SIGNATURE_EXAMPLES)
    if key is None or key not in request.inputs:
        known = [k for k in request.inputs if k in INPUTS]
        if len(known) != 1:
            return None
        key = known[0]
    return _images(key, tensor_proto.to_array(key, request.inputs[key]))


def classes_from_rest(body: bytes) -> list[int]:
    """Predicted class ids from a REST predict response (none if it carries no classes)."""
    try:
        doc = rest_json.parse_body(body)
    except ServingError:
        return []
    if "predictions" in doc:
        ids = []
        for row in doc["predictions"]:
            if isinstance(row, dict):
                if features.OUTPUT_CLASS_IDS in row:
                    ids.append(int(row[features.OUTPUT_CLASS_IDS]))
                elif features.OUTPUT_PROBABILITIES in row:
                    ids.append(int(np.argmax(row[features.OUTPUT_PROBABILITIES])))
            elif isinstance(row, list):
                ids.append(int(np.argmax(row)))
        return ids
    outputs = doc.get("outputs")
    if isinstance(outputs, dict):
        if features.OUTPUT_CLASS_IDS in outputs:
            return [int(v) for v in np.ravel(outputs[features.OUTPUT_CLASS_IDS])]
        if features.OUTPUT_PROBABILITIES in outputs:
            return [int(v) for v in np.argmax(outputs[features.OUTPUT_PROBABILITIES], axis=-1)]
    return []


def classes_from_grpc(response) -> list[int]:
    """Predicted class ids from a ``PredictResponse``."""
    outputs = response.outputs
    if features.OUTPUT_CLASS_IDS in outputs:
        key = features.OUTPUT_CLASS_IDS
        return [int(v) for v in tensor_proto.to_array(key, outputs[key]).ravel()]
    if features.OUTPUT_PROBABILITIES in outputs:
        key = features.OUTPUT_PROBABILITIES
        probabilities = tensor_proto.to_array(key, outputs[key])
        return [int(v) for v in np.argmax(np.atleast_2d(probabilities), -1)]
    return []
