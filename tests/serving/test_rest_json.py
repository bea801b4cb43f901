"""TF Serving's REST JSON: row/columnar requests, b64 strings, predictions/outputs answers."""

from __future__ import annotations

import base64
import json
import random
import re

import numpy as np
import pytest

from serving.errors import ServingError
from serving.rest_json import (
    decode_b64,
    dumps,
    parse_body,
    predict_response,
    request_inputs,
    to_array,
)
from serving.signatures import Signature, TensorSpec

IMAGES = TensorSpec("images", "images:0", 4, np.dtype(np.uint8), (None, 2, 2, 3))
BYTES = TensorSpec("image_bytes", "bytes:0", 7, np.dtype(object), (None,))
FLOATS = TensorSpec("x", "x:0", 1, np.dtype(np.float32), None)
ONE = Signature("serving_images", "tensorflow/serving/predict", {"images": IMAGES}, {})
STR = Signature("bytes", "tensorflow/serving/predict", {"image_bytes": BYTES}, {})
TWO = Signature("two", "tensorflow/serving/predict", {"images": IMAGES, "x": FLOATS}, {})


def img(v: int) -> list:
    return np.full((2, 2, 3), v).tolist()


def test_row_format_single_input_bare_and_named():
    bare, row = request_inputs({"instances": [img(1), img(2)]}, ONE)
    named, _ = request_inputs({"instances": [{"images": img(1)}, {"images": img(2)}]}, ONE)
    assert row is True
    assert bare["images"].dtype == np.uint8 and bare["images"].shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(bare["images"], named["images"])


def test_columnar_format_single_and_multiple_inputs():
    single, row = request_inputs({"inputs": [img(3)]}, ONE)
    assert row is False and single["images"].shape == (1, 2, 2, 3)
    multi, _ = request_inputs({"inputs": {"images": [img(1)], "x": [0.5]}}, TWO)
    assert multi["x"].dtype == np.float32 and multi["x"].tolist() == [0.5]


def test_shapes_are_left_to_tensorflow():
    """TF Serving builds the tensor from the JSON and lets TF judge the shape."""
    inputs, _ = request_inputs({"instances": [1, 2, 3]}, ONE)
    assert inputs["images"].shape == (3,)


def test_row_format_multiple_inputs_needs_objects():
    inputs, _ = request_inputs({"instances": [{"images": img(1), "x": 1.5}]}, TWO)
    assert inputs["x"].tolist() == [1.5]
    with pytest.raises(ServingError, match="expecting list of objects"):
        request_inputs({"instances": [img(1)]}, TWO)
    with pytest.raises(ServingError, match="keys must be equal to: images,x"):
        request_inputs({"instances": [{"images": img(1)}]}, TWO)


def test_b64_and_plain_strings():
    raw = bytes(range(256))
    inputs, _ = request_inputs(
        {"instances": [{"b64": base64.b64encode(raw).decode()}, "text"]}, STR
    )
    assert inputs["image_bytes"].tolist() == [raw, b"text"]
    cols, _ = request_inputs({"inputs": {"b64": base64.b64encode(b"x").decode()}}, STR)
    assert cols["image_bytes"].tolist() == b"x"


def _b64_by_the_rule(text: str) -> bytes | None:
    """What decode_b64 promises, written plainly: standard or URL-safe alphabet, at most two
    '=' and only at the end, padding optional; None: the client's error."""
    if not re.fullmatch(r"[A-Za-z0-9+/_-]*={0,2}", text):
        return None
    body = text.rstrip("=")
    if len(body) % 4 == 1:
        return None
    body = body.replace("-", "+").replace("_", "/")
    return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)


def _b64_variants(rng: random.Random) -> str:
    """An encoding of random bytes in any accepted form, often damaged: characters inserted,
    dropped or replaced by alphabet, padding, URL-safe, junk or non-ASCII characters."""
    raw = rng.randbytes(rng.randrange(16))
    text = rng.choice([base64.b64encode, base64.urlsafe_b64encode])(raw).decode()
    if rng.random() < 0.3:
        text = text.rstrip("=")
    for _ in range(rng.randrange(3)):
        pos = rng.randrange(len(text) + 1)
        char = rng.choice("AZaz09+/==--__!! \n\té\x00")
        edit = rng.randrange(3)
        if edit == 0:
            text = text[:pos] + char + text[pos:]
        elif edit == 1:
            text = text[:pos] + text[pos + 1 :]
        else:
            text = text[:pos] + char + text[pos + 1 :]
    return text


def test_b64_decode_follows_the_rule_for_every_form():
    """The one-pass decoder of standard padded base64 takes exactly what the rule takes,
    with the same bytes, and everything else goes to the general path's checks."""
    rng = random.Random(20261207)
    accepted = refused = 0
    for _ in range(20_000):
        text = _b64_variants(rng)
        expected = _b64_by_the_rule(text)
        if expected is None:
            with pytest.raises(ServingError, match="Unable to base64 decode"):
                decode_b64({"b64": text})
            refused += 1
        else:
            assert decode_b64({"b64": text}) == expected, text
            accepted += 1
    assert accepted > 5_000 and refused > 5_000  # both sides of the rule were exercised


@pytest.mark.parametrize(
    "text",
    ["QUJD", "QUJDRA==", "QUJDREU=", "QUJDRA", "QUJDREU", "-_-_", "+/+/"],
)
def test_b64_decode_forms(text):
    assert decode_b64({"b64": text}) == _b64_by_the_rule(text)


@pytest.mark.parametrize(
    "text",
    # skipped or stopping characters that a decoder without checks would pass over
    ["QU!D", "QUJD\n", "QQ==QUJD", "QUJ=RA==", "QUJD====", "QUJDR===", "QUJDé===", "QUJD QUI="],
)
def test_b64_decode_refuses_what_a_lenient_decoder_skips(text):
    with pytest.raises(ServingError, match="Unable to base64 decode"):
        decode_b64({"b64": text})


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, "Missing 'inputs' or 'instances' key"),
        ({"instances": [img(1)], "inputs": [img(1)]}, "expecting only one of"),
        ({"instances": []}, "No values in 'instances' array"),
        ({"instances": {"a": 1}}, "to be an list/array"),
        ({"instances": [[["a"]]]}, "is not of expected type: uint8"),
        ({"instances": [img(2**40)]}, "is not of expected type: uint8"),
        ({"instances": [np.full((2, 2, 3), 1.5).tolist()]}, "is not of expected type: uint8"),
        ({"instances": [[[1, 2], [3]]]}, "not dense"),
        ({"instances": [{"b64": "x"}]}, "not of expected type"),
        ({"instances": [img(1), {"images": img(1)}]}, "got object at item 1"),
    ],
)
def test_bad_numeric_requests(doc, message):
    with pytest.raises(ServingError, match=message) as info:
        request_inputs(doc, ONE)
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "value, message",
    [
        ({"b64": "!!!not base64!!!"}, "Unable to base64 decode"),
        ({"b64": "abcde"}, "Unable to base64 decode"),
        ({"b64": 12}, "not of expected type: string"),
        (17, "not of expected type: string"),
        ([["a"], "b"], "unexpected size"),
    ],
)
def test_bad_string_inputs(value, message):
    with pytest.raises(ServingError, match=message):
        to_array([value] if not isinstance(value, list) else value, BYTES)


def test_parse_body_errors():
    with pytest.raises(ServingError, match="JSON Parse error"):
        parse_body(b"{not json")
    with pytest.raises(ServingError, match="Is not object"):
        parse_body(b"[1, 2]")
    with pytest.raises(ServingError, match="JSON Parse error"):
        parse_body(b"\xff\xfe")
    with pytest.raises(ServingError, match="The document is empty"):
        parse_body(b"")
    assert np.isnan(parse_body(b'{"x": NaN}')["x"])  # rapidjson's NaN/Inf flag


def test_deep_json_is_a_parse_error_not_a_crash():
    with pytest.raises(ServingError, match="JSON Parse error") as info:
        parse_body(b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert info.value.http_status == 400


def test_response_formats():
    out = {
        "probabilities": np.array([[0.25, 0.75]], np.float32),
        "classes": np.array([b"cat"], dtype=object),
        "raw_bytes": np.array([b"\x00\xff"], dtype=object),
        "blob": np.array([b"\xff"], dtype=object),
    }
    rows = json.loads(dumps(predict_response(out, row_format=True)))["predictions"]
    assert rows == [
        {
            "probabilities": [0.25, 0.75],
            "classes": "cat",
            "raw_bytes": {"b64": "AP8="},
            "blob": {"b64": "/w=="},
        }
    ]
    cols = json.loads(dumps(predict_response(out, row_format=False)))["outputs"]
    assert cols["classes"] == ["cat"] and cols["probabilities"] == [[0.25, 0.75]]
    assert json.loads(dumps(predict_response({"y": np.array([1, 2])}, True))) == {
        "predictions": [1, 2]
    }
    assert json.loads(dumps(predict_response({"y": np.array([1, 2])}, False))) == {
        "outputs": [1, 2]
    }


def test_row_format_needs_a_common_batch_dimension():
    with pytest.raises(ServingError, match="inconsistent batch size"):
        predict_response({"a": np.zeros((2, 1)), "b": np.zeros((3,))}, row_format=True)
    with pytest.raises(ServingError, match="no shape information"):
        predict_response({"a": np.float32(1.0) * np.ones(())}, row_format=True)


def test_float_outputs_survive_json_exactly():
    values = np.random.default_rng(0).random((4, 10), dtype=np.float32)
    body = json.loads(dumps(predict_response({"p": values}, False)))
    np.testing.assert_array_equal(np.asarray(body["outputs"], np.float32), values)
