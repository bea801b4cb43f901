"""Read what the router needs out of predict payloads: request images (for drift) and
predicted classes (for per-version metrics), in every form the model's signatures accept.

Parsing is best-effort: a payload we cannot read is forwarded untouched and only misses
the drift sample or class counts.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from models import features
from serving.image_codec import decode_image


def _image_from_example(serialized: bytes) -> np.ndarray | None:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example.FromString(serialized)
    values = example.features.feature[features.IMAGE_KEY].bytes_list.value
    return decode_image(values[0]) if values else None


def _b64(value: Any) -> bytes | None:
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return None


def images_from_rest(body: dict[str, Any]) -> np.ndarray | None:
    """uint8 [N, 32, 32, 3] from a REST predict body (row or columnar format)."""
    rows: list[Any]
    if "instances" in body:
        rows = body["instances"]
    elif "inputs" in body:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            key = next((k for k in (features.INPUT_IMAGES, features.INPUT_IMAGE_BYTES,
                                    features.INPUT_EXAMPLES) if k in inputs), None)
            if key is None:
                return None
            rows = [{key: v} for v in inputs[key]]
        else:
            rows = inputs
    else:
        return None
    images = []
    for row in rows:
        value = row
        key = None
        if isinstance(row, dict) and "b64" not in row:
            key = next((k for k in row), None)
            value = row[key] if key else None
        raw = _b64(value)
        if raw is not None:
            image = (_image_from_example(raw) if key == features.INPUT_EXAMPLES
                     else decode_image(raw))
        else:
            image = np.asarray(value, dtype=np.float64)
            if image.shape != features.IMAGE_SHAPE:
                return None
            image = np.clip(image, 0, 255).astype(np.uint8)
        if image is not None:
            images.append(image)
    return np.stack(images) if images else None


def classes_from_rest(body: dict[str, Any]) -> list[int]:
    """Predicted class ids from a REST predict response."""
    if "predictions" in body:
        ids = []
        for row in body["predictions"]:
            if isinstance(row, dict):
                if features.OUTPUT_CLASS_IDS in row:
                    ids.append(int(row[features.OUTPUT_CLASS_IDS]))
                elif features.OUTPUT_PROBABILITIES in row:
                    ids.append(int(np.argmax(row[features.OUTPUT_PROBABILITIES])))
            elif isinstance(row, list):
                ids.append(int(np.argmax(row)))
        return ids
    outputs = body.get("outputs")
    if isinstance(outputs, dict):
        if features.OUTPUT_CLASS_IDS in outputs:
            return [int(v) for v in np.ravel(outputs[features.OUTPUT_CLASS_IDS])]
        if features.OUTPUT_PROBABILITIES in outputs:
            return [int(v) for v in np.argmax(outputs[features.OUTPUT_PROBABILITIES], axis=-1)]
    return []


def _ndarray(tensor) -> np.ndarray:
    """A numeric TensorProto as numpy without importing TensorFlow's runtime."""
    from tensorflow.core.framework import types_pb2

    shape = [d.size for d in tensor.tensor_shape.dim]
    dtype = {types_pb2.DT_UINT8: np.uint8, types_pb2.DT_INT64: np.int64,
             types_pb2.DT_INT32: np.int32, types_pb2.DT_FLOAT: np.float32}[tensor.dtype]
    if tensor.tensor_content:
        return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape)
    values = {types_pb2.DT_UINT8: tensor.int_val, types_pb2.DT_INT32: tensor.int_val,
              types_pb2.DT_INT64: tensor.int64_val, types_pb2.DT_FLOAT: tensor.float_val}
    flat = np.asarray(values[tensor.dtype], dtype=dtype)
    size = int(np.prod(shape)) if shape else 1
    if flat.size == 1 and size > 1:
        flat = np.repeat(flat, size)
    return flat.reshape(shape)


def images_from_grpc(request) -> np.ndarray | None:
    """uint8 [N, 32, 32, 3] from a ``PredictRequest``."""
    inputs = request.inputs
    if features.INPUT_IMAGES in inputs:
        images = _ndarray(inputs[features.INPUT_IMAGES])
        return images.astype(np.uint8) if images.shape[1:] == features.IMAGE_SHAPE else None
    if features.INPUT_IMAGE_BYTES in inputs:
        return np.stack([decode_image(b)
                         for b in inputs[features.INPUT_IMAGE_BYTES].string_val])
    if features.INPUT_EXAMPLES in inputs:
        images = [_image_from_example(b) for b in inputs[features.INPUT_EXAMPLES].string_val]
        images = [i for i in images if i is not None]
        return np.stack(images) if images else None
    return None


def classes_from_grpc(response) -> list[int]:
    """Predicted class ids from a ``PredictResponse``."""
    outputs = response.outputs
    if features.OUTPUT_CLASS_IDS in outputs:
        return [int(v) for v in _ndarray(outputs[features.OUTPUT_CLASS_IDS]).ravel()]
    if features.OUTPUT_PROBABILITIES in outputs:
        probabilities = _ndarray(outputs[features.OUTPUT_PROBABILITIES])
        return [int(v) for v in np.argmax(probabilities.reshape(-1, features.NUM_CLASSES), -1)]
    return []
