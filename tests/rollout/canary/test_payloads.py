"""The router reads request images with the model server's decoders: every encoding the
server accepts yields the same images, and what the server refuses is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2

from models import features
from models.dataset import CIFAR10
from rollout.canary import payloads
from serving.errors import ServingError
from serving.image_codec import encode_png
from tests.support.encoding import b64, image_example

IMAGES = np.random.default_rng(0).integers(0, 256, (2, *CIFAR10.image_shape), np.uint8)


def body(doc: dict) -> bytes:
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": [{"images": im.tolist()} for im in IMAGES]},
        {"signature_name": features.SIGNATURE_IMAGES, "instances": IMAGES.tolist()},
        {"signature_name": features.SIGNATURE_IMAGES, "inputs": IMAGES.tolist()},
        {"inputs": {"images": IMAGES.tolist()}},
        {"instances": [{"image_bytes": b64(encode_png(im))} for im in IMAGES]},
        # URL-safe base64 without padding: TF Serving accepts it (regression: the router's
        # own decoder did not, so these requests were never drift-sampled)
        {
            "signature_name": features.SIGNATURE_IMAGE_BYTES,
            "instances": [b64(encode_png(im), urlsafe=True) for im in IMAGES],
        },
        {"instances": [b64(image_example(im)) for im in IMAGES]},  # default signature: examples
        {"inputs": {"examples": [b64(image_example(im), urlsafe=True) for im in IMAGES]}},
    ],
    ids=[
        "rows",
        "bare-rows",
        "bare-columns",
        "columns",
        "png",
        "png-urlsafe",
        "examples",
        "examples-urlsafe",
    ],
)
def test_every_rest_encoding_the_server_accepts_yields_the_images(doc):
    np.testing.assert_array_equal(payloads.images_from_rest(body(doc)), IMAGES)


@pytest.mark.parametrize(
    "doc",
    [
        {"instances": [{"images": [[1.5] * 3] * 32}]},  # floats for a uint8 input
        {"instances": [{"images": IMAGES[0].tolist()}], "inputs": {}},  # both forms
        {"instances": [{"image_bytes": {"b64": "not base64!"}}]},
    ],
)
def test_what_the_server_refuses_is_refused(doc):
    with pytest.raises(ServingError):
        payloads.images_from_rest(body(doc))


def test_other_signatures_and_shapes_are_no_images():
    """Any [N, H, W, 1 or 3] is an image batch (the router samples only requests the model
    answered, so their size is the model's); other ranks and channel counts are not."""
    assert payloads.images_from_rest(body({"signature_name": "other", "instances": [1]})) is None
    four_channels = np.zeros((1, 8, 8, 4), np.uint8).tolist()
    assert payloads.images_from_rest(body({"inputs": {"images": four_channels}})) is None
    rank_three = np.zeros((1, 8, 8), np.uint8).tolist()
    assert payloads.images_from_rest(body({"inputs": {"images": rank_three}})) is None


def grpc_request(signature: str = "") -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    return request


def test_grpc_images_in_every_tensor_form():
    content = grpc_request(features.SIGNATURE_IMAGES)
    tensor = content.inputs[features.INPUT_IMAGES]
    tensor.dtype = types_pb2.DT_UINT8
    for size in IMAGES.shape:
        tensor.tensor_shape.dim.add(size=size)
    tensor.tensor_content = IMAGES.tobytes()
    np.testing.assert_array_equal(payloads.images_from_grpc(content), IMAGES)
    # typed values shorter than the shape: the last one repeats (TensorFlow's rule;
    # regression: the router's own reader failed on it)
    fill = grpc_request(features.SIGNATURE_IMAGES)
    fill.inputs[features.INPUT_IMAGES].CopyFrom(tensor)
    fill.inputs[features.INPUT_IMAGES].ClearField("tensor_content")
    fill.inputs[features.INPUT_IMAGES].int_val.extend([3, 7])
    expected = np.full_like(IMAGES, 7)
    expected.flat[0] = 3
    np.testing.assert_array_equal(payloads.images_from_grpc(fill), expected)


def test_grpc_encoded_images_and_examples():
    for key, values in (
        (features.INPUT_IMAGE_BYTES, [encode_png(im) for im in IMAGES]),
        (features.INPUT_EXAMPLES, [image_example(im) for im in IMAGES]),
    ):
        request = grpc_request()
        tensor = request.inputs[key]
        tensor.dtype = types_pb2.DT_STRING
        tensor.tensor_shape.dim.add(size=len(values))
        tensor.string_val.extend(values)
        np.testing.assert_array_equal(payloads.images_from_grpc(request), IMAGES)


def test_a_grpc_tensor_the_server_refuses_is_refused():
    request = grpc_request(features.SIGNATURE_IMAGES)
    tensor = request.inputs[features.INPUT_IMAGES]
    tensor.dtype = types_pb2.DT_UINT8
    tensor.tensor_shape.dim.add(size=2)
    tensor.tensor_content = b"\0"  # one byte for two
    with pytest.raises(ServingError, match="tensor parsing error"):
        payloads.images_from_grpc(request)


def test_classes_from_responses():
    response = predict_pb2.PredictResponse()
    tensor = response.outputs[features.OUTPUT_CLASS_IDS]
    tensor.dtype = types_pb2.DT_INT64
    tensor.tensor_shape.dim.add(size=3)
    tensor.int64_val.extend([4, 1, 4])
    assert payloads.classes_from_grpc(response) == [4, 1, 4]
    rows = {"predictions": [{"class_ids": 2}, {"probabilities": [0.0] * 9 + [1.0]}]}
    assert payloads.classes_from_rest(body(rows)) == [2, 9]
    assert payloads.classes_from_rest(b"not json") == []


def test_images_of_any_model_size_and_channels_are_sampled():
    """A gray 40x24 model's images pass through as sent; encoded images of mixed sizes (which
    cannot form one batch) are left out of the drift sample, not an error."""
    gray = np.random.default_rng(1).integers(0, 256, (3, 40, 24, 1), np.uint8)
    doc = {"signature_name": features.SIGNATURE_IMAGES, "instances": gray.tolist()}
    np.testing.assert_array_equal(payloads.images_from_rest(body(doc)), gray)
    mixed = [IMAGES[0], np.zeros((8, 8, 3), np.uint8)]
    doc = {"instances": [{"image_bytes": b64(encode_png(im))} for im in mixed]}
    assert payloads.images_from_rest(body(doc)) is None
