"""Every class of bad request gets its 4xx / gRPC code and a clear message; the server keeps
serving afterwards."""

from __future__ import annotations

import base64
import json

import grpc
import numpy as np
import pytest
import requests

from models import features
from pipeline import configs
from serving import defaults as serving_defaults
from serving.server import ModelServer
from tests.serving.helpers import GrpcClient, outputs, png, sample_images
from tests.serving.tiny_models import push
from tests.support.encoding import b64

MODEL = configs.MODEL_NAME
LIMIT = 64 * 1024  # a small body limit so the 413 test stays cheap


@pytest.fixture(scope="module")
def server(tiny_models, tmp_path_factory):
    base = tmp_path_factory.mktemp("bad") / MODEL
    push(tiny_models(1), base, 1)
    with ModelServer(
        model_name=MODEL,
        model_base_path=base,
        grpc_port=0,
        rest_port=0,
        max_request_bytes=LIMIT,
        file_system_poll_seconds=0,
    ) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    c = GrpcClient(server.grpc_target)
    yield c
    c.close()


def post(server, path: str, body, **kw) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(server.rest_url + path, data=data, timeout=30, **kw)


IMG = sample_images(2)
GOOD = {"signature_name": features.SIGNATURE_IMAGES, "instances": IMG.tolist()}


def assert_still_serving(server, client):
    r = post(server, f"/v1/models/{MODEL}:predict", GOOD)
    assert r.status_code == 200, r.text
    assert len(r.json()["predictions"]) == 2
    resp = client.predict(MODEL, {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES)
    assert outputs(resp)[features.OUTPUT_CLASS_IDS].tolist() == [1, 1]


REST_CASES = [  # TF Serving's status and (part of) its message for each class of mistake
    ("malformed json", f"/v1/models/{MODEL}:predict", b"{instances: [", 400, "JSON Parse error"),
    ("empty body", f"/v1/models/{MODEL}:predict", b"", 400, "The document is empty"),
    ("not an object", f"/v1/models/{MODEL}:predict", b"[1,2,3]", 400, "Is not object"),
    (
        "deep json",
        f"/v1/models/{MODEL}:predict",
        b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        400,
        "JSON Parse error",
    ),
    (
        "deep but parseable json",
        f"/v1/models/{MODEL}:predict",
        b'{"instances": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}",
        400,
        "",
    ),
    (
        "no instances",
        f"/v1/models/{MODEL}:predict",
        {"foo": 1},
        400,
        "Missing 'inputs' or 'instances' key",
    ),
    (
        "wrong dtype",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": features.SIGNATURE_IMAGES, "instances": [[["x"] * 3] * 32] * 32},
        400,
        "is not of expected type: uint8",
    ),
    (
        "not an int32",
        f"/v1/models/{MODEL}:predict",
        {
            "signature_name": features.SIGNATURE_IMAGES,
            "instances": np.full((1, 32, 32, 3), 2**40).tolist(),
        },
        400,
        "uint8",
    ),
    (
        "rank TF cannot run",
        f"/v1/models/{MODEL}:predict",
        {
            "signature_name": features.SIGNATURE_IMAGES,
            "instances": np.zeros((1, 32, 32)).astype(int).tolist(),
        },
        400,
        "reduction dimension",
    ),
    (
        "ragged",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": features.SIGNATURE_IMAGES, "instances": [[1, 2], [3]]},
        400,
        "not dense",
    ),
    (
        "unknown signature",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": "nope", "instances": [1]},
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "signature not a string",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": 5, "instances": [1]},
        400,
        "'signature_name' key must be a string",
    ),
    (
        "invalid base64",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": features.SIGNATURE_IMAGE_BYTES, "instances": [{"b64": "***"}]},
        400,
        "Unable to base64 decode",
    ),
    (
        "not an image",
        f"/v1/models/{MODEL}:predict",
        {
            "signature_name": features.SIGNATURE_IMAGE_BYTES,
            "instances": [{"b64": base64.b64encode(b"not a png").decode()}],
        },
        400,
        "Unknown image file format",
    ),
    (
        "wrong input key",
        f"/v1/models/{MODEL}:predict",
        {"signature_name": features.SIGNATURE_IMAGES, "inputs": {"pixels": [1]}},
        400,
        "Missing named input: images in 'inputs' object.",
    ),
    (
        "unknown model",
        "/v1/models/nope:predict",
        GOOD,
        404,
        "Servable not found for request: Latest(nope)",
    ),
    (
        "unknown version",
        f"/v1/models/{MODEL}/versions/9:predict",
        GOOD,
        404,
        f"Servable not found for request: Specific({MODEL}, 9)",
    ),
    (
        "unknown label",
        f"/v1/models/{MODEL}/labels/canary:predict",
        GOOD,
        400,
        "Unrecognized servable version label: canary",
    ),
    ("bad version", f"/v1/models/{MODEL}/versions/abc:predict", GOOD, 400, "Malformed request"),
    ("path escape", "/v1/models/..%2F..%2Fetc:predict", GOOD, 404, "Servable not found"),
    ("path escape dots", "/v1/models/../../etc:predict", GOOD, 400, "Malformed request"),
    ("unknown verb", f"/v1/models/{MODEL}:explode", GOOD, 400, "Malformed request"),
    (
        "classify without examples",
        f"/v1/models/{MODEL}:classify",
        GOOD,
        400,
        "'examples' is expected",
    ),
    (
        "classify on a 3-output signature",
        f"/v1/models/{MODEL}:classify",
        {"examples": [{"image": {"b64": "AA=="}}]},
        400,
        "Expected one or two output Tensors",
    ),
    (
        "example not an object",
        f"/v1/models/{MODEL}:regress",
        {"examples": [3]},
        400,
        "Example must be JSON object but got JSON Number",
    ),
    (
        "mixed feature kinds",
        f"/v1/models/{MODEL}:regress",
        {"examples": [{"x": [1, "a"]}]},
        400,
        "Unexpected element type in feature: x",
    ),
    ("no such route", "/v3/whatever", GOOD, 400, "Malformed request: POST /v3/whatever"),
]


@pytest.mark.parametrize(
    "name, path, body, status, message", REST_CASES, ids=[c[0] for c in REST_CASES]
)
def test_rest_bad_requests(server, client, name, path, body, status, message):
    r = post(server, path, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert isinstance(error, str) and error and message in error


def test_rest_body_over_the_limit_is_413(server, client):
    big = {"signature_name": features.SIGNATURE_IMAGES, "instances": sample_images(20).tolist()}
    r = post(server, f"/v1/models/{MODEL}:predict", big)
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit must hold while reading too
        yield json.dumps(big).encode()

    r = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", data=chunks(), timeout=30)
    assert r.status_code == 413
    assert_still_serving(server, client)


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", f"/v1/models/{MODEL}:predict"),
        ("POST", f"/v1/models/{MODEL}"),
        ("PUT", f"/v1/models/{MODEL}/metadata"),
        ("DELETE", serving_defaults.PROMETHEUS_PATH),
    ],
)
def test_rest_wrong_method_is_malformed_400_as_in_tf_serving(server, method, path):
    r = requests.request(method, server.rest_url + path, timeout=30)
    assert r.status_code == 400 and r.json()["error"].startswith("Malformed request")


def test_a_shape_tensorflow_can_run_is_answered(server):
    """TF Serving does not check shapes against the signature; neither do we."""
    r = post(
        server,
        f"/v1/models/{MODEL}:predict",
        {
            "signature_name": features.SIGNATURE_IMAGES,
            "instances": np.zeros((1, 31, 32, 3)).astype(int).tolist(),
        },
    )
    assert r.status_code == 200, r.text


def test_rest_get_errors(server):
    assert requests.get(f"{server.rest_url}/v1/models/nope", timeout=30).status_code == 404
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/versions/7/metadata", timeout=30)
    assert r.status_code == 404 and "7" in r.json()["error"]
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/labels/x", timeout=30)
    assert r.status_code == 400 and "Unrecognized servable version label" in r.text
    r = requests.get(f"{server.rest_url}/v1/models", timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "Missing model name in request."


def _code(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code(), info.value.details()


def test_grpc_bad_requests(server, client):
    import tensorflow as tf

    img = {features.INPUT_IMAGES: IMG}
    sig = features.SIGNATURE_IMAGES
    cases = [
        (lambda: client.predict("nope", img, signature=sig), grpc.StatusCode.NOT_FOUND, "nope"),
        (
            lambda: client.predict(MODEL, img, signature=sig, version=5),
            grpc.StatusCode.NOT_FOUND,
            "5",
        ),
        (
            lambda: client.predict(MODEL, img, signature=sig, label="stable"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Unrecognized servable version label: stable",
        ),
        (
            lambda: client.predict(
                MODEL, {features.INPUT_IMAGES: IMG.astype(np.float32)}, signature=sig
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "uint8",
        ),
        (
            lambda: client.predict(MODEL, {features.INPUT_IMAGES: IMG[0]}, signature=sig),
            grpc.StatusCode.INVALID_ARGUMENT,
            "reduction dimension",
        ),
        (
            lambda: client.predict(MODEL, {"pixels": IMG}, signature=sig),
            grpc.StatusCode.INVALID_ARGUMENT,
            "alias: images not found in request",
        ),
        (
            lambda: client.predict(MODEL, {**img, "pixels": IMG}, signature=sig),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Sent extra: {pixels}",
        ),
        (
            lambda: client.predict(MODEL, img, signature="nope"),
            grpc.StatusCode.FAILED_PRECONDITION,
            'Serving signature key "nope" not found.',
        ),
        (
            lambda: client.predict(MODEL, img, signature=sig, output_filter=["logits"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "output tensor alias not found in signature: logits",
        ),
        (
            lambda: client.predict(MODEL, img, signature=sig, output_filter=["classes"] * 2),
            grpc.StatusCode.INVALID_ARGUMENT,
            "duplicate output tensor alias: classes",
        ),
        (
            lambda: client.predict("", img),
            grpc.StatusCode.INVALID_ARGUMENT,
            "ModelSpec has no name specified.",
        ),
        (
            lambda: client.predict(
                MODEL,
                {features.INPUT_IMAGE_BYTES: np.array([b"junk"])},
                signature=features.SIGNATURE_IMAGE_BYTES,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "",
        ),
        (
            lambda: client.metadata(MODEL, fields=["nope"]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Metadata field nope is not supported",
        ),
        (
            lambda: client.metadata(MODEL, fields=[]),
            grpc.StatusCode.INVALID_ARGUMENT,
            "must specify at least one metadata_field",
        ),
        (lambda: client.metadata("nope"), grpc.StatusCode.NOT_FOUND, "nope"),
        (lambda: client.status("nope"), grpc.StatusCode.NOT_FOUND, "nope"),
        (lambda: client.status(MODEL, version=3), grpc.StatusCode.NOT_FOUND, "3"),
    ]
    for call, code, message in cases:
        got, details = _code(call)
        assert got == code, (code, got, details)
        assert message in details

    # A TensorProto whose content does not match its shape.
    broken = tf.make_tensor_proto(IMG)
    broken.tensor_content = broken.tensor_content[:-5]
    got, _ = _code(lambda: client.predict(MODEL, {features.INPUT_IMAGES: broken}, signature=sig))
    assert got == grpc.StatusCode.INVALID_ARGUMENT

    # Classify needs a signature shaped for it (one "inputs", "classes"/"scores" outputs).
    from tensorflow_serving.apis import classification_pb2

    req = client.spec(classification_pb2.ClassificationRequest(), MODEL)
    got, details = _code(lambda: client.predict_stub.Classify(req, timeout=30))
    assert got == grpc.StatusCode.INVALID_ARGUMENT and "Expected one or two output" in details

    # A malformed protobuf on the wire (not a PredictRequest at all).
    raw = client.channel.unary_unary(
        "/tensorflow.serving.PredictionService/Predict",
        request_serializer=lambda b: b,
        response_deserializer=lambda b: b,
    )
    got, _ = _code(lambda: raw(b"\xff\xff\xff\xff garbage", timeout=30))
    assert got in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)

    # Over the request size limit.
    got, _ = _code(
        lambda: client.predict(MODEL, {features.INPUT_IMAGES: sample_images(100)}, signature=sig)
    )
    assert got == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert_still_serving(server, client)


def test_errors_are_counted(server, client):
    post(server, "/v1/models/nope:predict", GOOD)
    text = requests.get(server.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=30).text
    assert (
        'model_server_request_errors_total{api="predict",code="NOT_FOUND",model="nope",'
        'protocol="rest",version=""}' in text
    )
    assert 'code="INVALID_ARGUMENT"' in text


def test_b64_png_request_still_works_after_all_that(server, client):
    r = post(
        server,
        f"/v1/models/{MODEL}:predict",
        {"signature_name": features.SIGNATURE_IMAGE_BYTES, "instances": [b64(png(i)) for i in IMG]},
    )
    assert r.status_code == 200 and [p["class_ids"] for p in r.json()["predictions"]] == [1, 1]
