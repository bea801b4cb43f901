"""The data plane under both front ends: typed client errors, a bug answered as INTERNAL with
its trace in the log, TensorFlow's messages kept readable, and the one /v1 URL builder."""

from __future__ import annotations

import base64
import logging

import grpc
import numpy as np
import pytest
import requests

from models import features
from models.dataset import CIFAR10
from pipeline import configs
from serving import errors, inference
from serving.data_plane import ModelRef
from serving.model_paths import model_url, parse_model_url
from tests.serving.helpers import GrpcClient, png, sample_images

MODEL = configs.MODEL_NAME
IMG = sample_images(2)


@pytest.fixture
def server(tiny_base, start_server):
    return start_server(model_base_path=tiny_base(1))


def predict_url(server, **kw) -> str:
    return server.rest_url + model_url(MODEL, verb="predict", **kw)


# -- the URL builder ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, kw, method",
    [
        ("m", {}, "GET"),
        ("my model:v/2", {"version": 7, "verb": "predict"}, "POST"),
        ("m", {"label": "can ary/1", "verb": "metadata"}, "GET"),
        ("m", {"label": "stable", "verb": "classify"}, "POST"),
        ("m", {"version": 0, "verb": "regress"}, "POST"),
    ],
)
def test_model_url_is_the_inverse_of_parse_model_url(name, kw, method):
    url = model_url(name, **kw)
    parsed = parse_model_url(method, url)
    assert parsed is not None, url
    assert parsed.name == name
    assert parsed.version == (None if "version" not in kw else str(kw["version"]))
    assert parsed.label == kw.get("label")
    assert parsed.verb == kw.get("verb", "status")


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"version": 1, "label": "stable"}, "not both"),
        ({"verb": "explode"}, "unknown verb"),
        ({"version": -1}, "non-negative"),
        ({"label": ""}, "label is empty"),
    ],
)
def test_model_url_refuses_what_tf_serving_would_not_route(kw, message):
    with pytest.raises(ValueError, match=message):
        model_url("m", **kw)


# -- one table of codes ---------------------------------------------------------------------------
def test_every_typed_error_has_its_grpc_and_http_code():
    pairs = {
        errors.InvalidArgument: (grpc.StatusCode.INVALID_ARGUMENT, 400),
        errors.NotFound: (grpc.StatusCode.NOT_FOUND, 404),
        errors.FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, 400),
        errors.Unavailable: (grpc.StatusCode.UNAVAILABLE, 503),
        errors.ResourceExhausted: (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        errors.Unimplemented: (grpc.StatusCode.UNIMPLEMENTED, 501),
        errors.DeadlineExceeded: (grpc.StatusCode.DEADLINE_EXCEEDED, 504),
        errors.Internal: (grpc.StatusCode.INTERNAL, 500),
    }
    for cls, (grpc_code, http) in pairs.items():
        err = cls("x")
        assert (err.number, err.http_status) == (grpc_code.value[0], http), cls
        assert errors.error(err.code, "y").__class__ is cls


def test_a_bug_is_not_a_client_error():
    assert errors.from_exception(ValueError("boom")).code == "INTERNAL"
    assert errors.from_exception(TypeError("boom")).http_status == 500
    assert errors.from_exception(errors.InvalidArgument("bad")).http_status == 400


def test_unexpected_exception_is_500_and_internal_with_the_trace_logged(
    server, monkeypatch, caplog
):
    def broken(*args, **kwargs):
        raise KeyError("a bug in the server")

    monkeypatch.setattr(inference, "predict", broken)
    body = {"signature_name": features.SIGNATURE_IMAGES, "instances": IMG.tolist()}
    with caplog.at_level(logging.ERROR, logger="serving.data_plane"):
        r = requests.post(predict_url(server), json=body, timeout=30)
        assert r.status_code == 500, r.text
        assert "a bug in the server" in r.json()["error"]
        client = GrpcClient(server.grpc_target)
        try:
            with pytest.raises(grpc.RpcError) as info:
                client.predict(
                    MODEL, {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES
                )
        finally:
            client.close()
    assert info.value.code() == grpc.StatusCode.INTERNAL
    traces = [rec for rec in caplog.records if rec.exc_info]
    assert len(traces) == 2, [rec.getMessage() for rec in caplog.records]
    assert all(rec.exc_info[0] is KeyError for rec in traces)


def test_client_errors_are_not_logged_as_failures(server, caplog):
    with caplog.at_level(logging.ERROR, logger="serving.data_plane"):
        r = requests.post(predict_url(server), json={"instances": "nope"}, timeout=30)
    assert r.status_code == 400
    assert not [rec for rec in caplog.records if rec.exc_info]


# -- newcomer edges ------------------------------------------------------------------------------
def test_png_sent_to_the_example_signature_is_a_clean_400(server, caplog):
    image = png(IMG[0])
    body = {"instances": [{"b64": base64.b64encode(image).decode()}]}  # serving_default
    with caplog.at_level(logging.DEBUG):
        r = requests.post(predict_url(server), json=body, timeout=30)
    assert r.status_code == 400, r.text
    message = r.json()["error"]
    assert message.startswith("Could not parse example input, value: '\\x89PNG")
    assert "codec can't decode" not in message
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "\x89PNG" not in logged and "codec can't decode" not in logged


def test_unknown_signature_lists_the_signatures_that_exist(server):
    r = requests.post(
        predict_url(server), json={"signature_name": "nope", "instances": [1]}, timeout=30
    )
    assert r.status_code == 400
    message = r.json()["error"]
    assert 'Serving signature name: "nope" not found in signature def' in message
    for name in (features.SIGNATURE_IMAGES, features.SIGNATURE_IMAGE_BYTES, "serving_default"):
        assert name in message
    assert "__saved_model_init_op" not in message
    client = GrpcClient(server.grpc_target)
    try:
        with pytest.raises(grpc.RpcError) as info:
            client.predict(MODEL, {features.INPUT_IMAGES: IMG}, signature="nope")
    finally:
        client.close()
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert features.SIGNATURE_IMAGES in info.value.details()


@pytest.mark.parametrize("bad", [300, -1])
def test_json_pixels_outside_uint8_are_a_400_not_wrapped(server, bad):
    pixels = IMG[:1].astype(np.int64)
    pixels[0, 0, 0, 0] = bad
    body = {"signature_name": features.SIGNATURE_IMAGES, "instances": pixels.tolist()}
    r = requests.post(predict_url(server), json=body, timeout=30)
    assert r.status_code == 400, r.text
    assert "outside the range of uint8 [0, 255]" in r.json()["error"]


# -- the API other front ends build on ------------------------------------------------------------
def test_model_info_and_readiness_for_other_front_ends(server):
    plane = server.plane
    with plane.track("rest", "metadata", MODEL) as t:
        info = plane.model_info(t, ModelRef(MODEL), features.SIGNATURE_IMAGES)
    assert info.versions == [1] and info.signature == features.SIGNATURE_IMAGES
    (images,) = info.inputs
    assert images.name == features.INPUT_IMAGES
    assert images.dtype == np.uint8 and images.shape == (None, *CIFAR10.image_shape)
    assert {o.name for o in info.outputs} >= {features.OUTPUT_CLASS_IDS}
    assert plane.ready(ModelRef(MODEL)) and plane.ready(ModelRef(MODEL, version=1))
    assert not plane.ready(ModelRef(MODEL, version=2))
    assert not plane.ready(ModelRef("nope"))
    with plane.track("grpc", "predict", MODEL) as t:
        answer = plane.predict(
            t,
            ModelRef(MODEL),
            features.SIGNATURE_IMAGES,
            lambda sig: {features.INPUT_IMAGES: IMG},
        )
    assert answer.version == 1 and answer.outputs[features.OUTPUT_CLASS_IDS].tolist() == [1, 1]
    with pytest.raises(errors.NotFound), plane.track("grpc", "predict", "nope") as t:
        plane.predict(t, ModelRef("nope"), "", lambda sig: {})
