"""TF Serving's REST JSON: row/columnar requests, b64 strings, predictions/outputs answers."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from serving.errors import ServingError
from serving.rest_json import parse_body, request_inputs, response_body, to_array
from serving.signatures import Signature, TensorSpec

IMAGES = TensorSpec("images", 4, np.dtype(np.uint8), (None, 2, 2, 3))
BYTES = TensorSpec("image_bytes", 7, np.dtype(object), (None,))
FLOATS = TensorSpec("x", 1, np.dtype(np.float32), None)
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


def test_row_format_multiple_inputs_needs_objects():
    inputs, _ = request_inputs({"instances": [{"images": img(1), "x": 1.5}]}, TWO)
    assert inputs["x"].tolist() == [1.5]
    with pytest.raises(ServingError, match="object with keys"):
        request_inputs({"instances": [img(1)]}, TWO)
    with pytest.raises(ServingError, match="keys"):
        request_inputs({"instances": [{"images": img(1)}]}, TWO)


def test_b64_and_plain_strings():
    raw = bytes(range(256))
    inputs, _ = request_inputs(
        {"instances": [{"b64": base64.b64encode(raw).decode()}, "text"]}, STR)
    assert inputs["image_bytes"].tolist() == [raw, b"text"]
    cols, _ = request_inputs({"inputs": {"b64": base64.b64encode(b"x").decode()}}, STR)
    assert cols["image_bytes"].tolist() == b"x"


@pytest.mark.parametrize("doc, message", [
    ({}, "Missing 'inputs' or 'instances'"),
    ({"instances": [img(1)], "inputs": [img(1)]}, "either"),
    ({"instances": []}, "non-empty"),
    ({"instances": img(1)[0][0]}, "rank"),
    ({"instances": [[["a"]]]}, "expects uint8"),
    ({"instances": [img(300)]}, "out of range"),
    ({"instances": [img(-1)]}, "out of range"),
    ({"instances": [np.full((2, 2, 3), 1.5).tolist()]}, "expects uint8"),
    ({"instances": [[[1, 2], [3]]]}, "ragged"),
    ({"instances": [{"b64": "x"}]}, "expects uint8"),
])
def test_bad_numeric_requests(doc, message):
    with pytest.raises(ServingError, match=message) as info:
        inputs, _ = request_inputs(doc, ONE)
        from serving.signatures import check_inputs

        check_inputs(ONE, inputs)  # shape errors surface at the signature check
    assert info.value.code == "INVALID_ARGUMENT"


@pytest.mark.parametrize("value, message", [
    ({"b64": "!!!not base64!!!"}, "invalid base64"),
    ({"b64": 12}, "must be a string"),
    (17, "DT_STRING"),
    ([["a"], "b"], "ragged"),
])
def test_bad_string_inputs(value, message):
    with pytest.raises(ServingError, match=message):
        to_array([value] if not isinstance(value, list) else value, BYTES, "input")


def test_parse_body_errors():
    with pytest.raises(ServingError, match="JSON"):
        parse_body(b"{not json")
    with pytest.raises(ServingError, match="object"):
        parse_body(b"[1, 2]")
    with pytest.raises(ServingError, match="JSON"):
        parse_body(b"\xff\xfe")


def test_response_formats():
    out = {"probabilities": np.array([[0.25, 0.75]], np.float32),
           "classes": np.array([b"cat"], dtype=object),
           "raw_bytes": np.array([b"\x00\xff"], dtype=object),
           "blob": np.array([b"\xff"], dtype=object)}
    rows = response_body(out, row_format=True)["predictions"]
    assert rows == [{"probabilities": [0.25, 0.75], "classes": "cat",
                     "raw_bytes": {"b64": "AP8="}, "blob": {"b64": "/w=="}}]
    cols = response_body(out, row_format=False)["outputs"]
    assert cols["classes"] == ["cat"] and cols["probabilities"] == [[0.25, 0.75]]
    assert response_body({"y": np.array([1, 2])}, True) == {"predictions": [1, 2]}
    assert response_body({"y": np.array([1, 2])}, False) == {"outputs": [1, 2]}


def test_row_format_needs_a_common_batch_dimension():
    with pytest.raises(ServingError, match="columnar"):
        response_body({"a": np.zeros((2, 1)), "b": np.zeros((3,))}, row_format=True)


def test_float_outputs_survive_json_exactly():
    import json

    values = np.random.default_rng(0).random((4, 10), dtype=np.float32)
    body = json.loads(json.dumps(response_body({"p": values}, False)))
    np.testing.assert_array_equal(np.asarray(body["outputs"], np.float32), values)
