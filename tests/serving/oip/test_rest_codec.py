"""The REST body codec: JSON header + binary section, both ways."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serving.errors import InvalidArgument
from serving.oip import rest_codec
from serving.oip.messages import InferRequest, InferResponse, OutputTensor


def _body(header: dict, binary: bytes = b"") -> tuple[bytes, str]:
    text = json.dumps(header).encode()
    return text + binary, str(len(text))


def test_json_inputs_parse():
    body, _ = _body(
        {
            "id": "7",
            "parameters": {"signature_name": "s"},
            "inputs": [{"name": "x", "datatype": "INT32", "shape": [2], "data": [1, 2]}],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )
    request = rest_codec.parse_infer_request(body, None, "m", "3")
    assert (request.model_name, request.model_version, request.id) == ("m", "3", "7")
    assert request.signature_name == "s"
    assert request.inputs[0].array.tolist() == [1, 2]
    assert request.inputs[0].array.dtype == np.int32
    assert request.binary_output("y") and not request.binary_output("z")


def test_binary_inputs_take_their_bytes_in_order():
    a = np.arange(3, dtype=np.float32)
    b = np.array([7], dtype=np.int64)
    body, length = _body(
        {
            "inputs": [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [3],
                    "parameters": {"binary_data_size": 12},
                },
                {"name": "j", "datatype": "INT16", "shape": [1], "data": [5]},
                {
                    "name": "b",
                    "datatype": "INT64",
                    "shape": [1],
                    "parameters": {"binary_data_size": 8},
                },
            ]
        },
        a.tobytes() + b.tobytes(),
    )
    request = rest_codec.parse_infer_request(body, length, "m", None)
    assert [t.array.tolist() for t in request.inputs] == [[0, 1, 2], [5], [7]]


@pytest.mark.parametrize(
    ("header_length", "message"),
    [
        ("abc", "must be a non-negative integer"),
        ("-3", "must be a non-negative integer"),
        ("0", "the JSON header is missing"),
        ("100000", "is 100000 but the body holds"),
    ],
)
def test_lying_or_garbage_header_lengths(header_length, message):
    body, _ = _body({"inputs": []})
    with pytest.raises(InvalidArgument, match=message):
        rest_codec.parse_infer_request(body, header_length, "m", None)


def test_header_length_cutting_the_json_is_a_parse_error():
    body, length = _body({"inputs": []})
    with pytest.raises(InvalidArgument, match="JSON"):
        rest_codec.parse_infer_request(body, str(int(length) - 3), "m", None)


@pytest.mark.parametrize(
    ("inputs", "binary", "message"),
    [
        (
            [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [3],
                    "parameters": {"binary_data_size": 12},
                }
            ],
            b"\0" * 8,
            "only 8 bytes",
        ),
        (
            [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [1],
                    "parameters": {"binary_data_size": 4},
                }
            ],
            b"\0" * 8,
            "the binary section holds 8 bytes",
        ),
        (
            [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [2],
                    "parameters": {"binary_data_size": 4},
                }
            ],
            b"\0" * 4,
            "needs 8 bytes, got 4",
        ),
        (
            [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [1],
                    "parameters": {"binary_data_size": -4},
                }
            ],
            b"",
            "non-negative integer",
        ),
        (
            [
                {
                    "name": "a",
                    "datatype": "FP32",
                    "shape": [1],
                    "data": [1],
                    "parameters": {"binary_data_size": 4},
                }
            ],
            b"\0" * 4,
            "both 'data' and",
        ),
        ([{"name": "a", "datatype": "FP32", "shape": [1]}], b"", "'data' is missing"),
        ([{"datatype": "FP32", "shape": [1], "data": [1]}], b"", "'name' must be a string"),
        ([{"name": "a", "datatype": "FP32", "data": [1]}], b"", "'shape' is missing"),
        (
            [{"name": "a", "datatype": "COMPLEX64", "shape": [1], "data": [1]}],
            b"",
            "unsupported datatype",
        ),
        (["x"], b"", "input 0 must be an object"),
        ({"a": 1}, b"", "'inputs' must be a list"),
    ],
)
def test_bad_inputs(inputs, binary, message):
    body, length = _body({"inputs": inputs}, binary)
    with pytest.raises(InvalidArgument, match=message):
        rest_codec.parse_infer_request(body, length, "m", None)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"inputs": [], "id": 5}, "'id' must be a string"),
        ({"inputs": [], "parameters": []}, "'parameters' must be an object"),
        ({"inputs": [], "parameters": {"p": [1]}}, "boolean, number or string"),
        ({"inputs": [], "parameters": {"classification": 3}}, "not supported"),
        ({"inputs": [], "outputs": [{"parameters": {}}]}, "string 'name'"),
        (
            {"inputs": [], "outputs": [{"name": "y", "parameters": {"binary_data": 1}}]},
            "must be a boolean",
        ),
    ],
)
def test_bad_request_fields(doc, message):
    body, _ = _body(doc)
    with pytest.raises(InvalidArgument, match=message):
        rest_codec.parse_infer_request(body, None, "m", None)


def _response() -> InferResponse:
    y = np.array([[1.5, 2.5]], dtype=np.float32)
    s = np.array([b"cat", b"\x89PNG"], dtype=object)
    return InferResponse(
        "m", "2", [OutputTensor("y", "FP32", (1, 2), y), OutputTensor("s", "BYTES", (2,), s)], "id1"
    )


def test_json_answer_with_non_text_bytes_in_the_binary_section():
    body, headers = rest_codec.encode_infer_response(_response(), InferRequest("m", None, []))
    length = int(headers[rest_codec.HEADER_LENGTH])
    assert headers["Content-Type"] == rest_codec.BINARY_TYPE
    doc = json.loads(body[:length])
    assert doc["id"] == "id1" and doc["model_version"] == "2"
    assert doc["outputs"][0]["data"] == [1.5, 2.5]
    assert doc["outputs"][1]["parameters"] == {"binary_data_size": 15}
    assert body[length:] == b"\x03\x00\x00\x00cat\x04\x00\x00\x00\x89PNG"


def test_text_only_answer_is_plain_json():
    response = _response()
    response.outputs[1].array = np.array([b"cat", b"dog"], dtype=object)
    body, headers = rest_codec.encode_infer_response(response, InferRequest("m", None, []))
    assert headers == {"Content-Type": "application/json"}
    assert json.loads(body)["outputs"][1]["data"] == ["cat", "dog"]


def test_binary_data_output_default_and_per_output_override():
    request = InferRequest("m", None, [], parameters={"binary_data_output": True})
    body, headers = rest_codec.encode_infer_response(_response(), request)
    length = int(headers[rest_codec.HEADER_LENGTH])
    doc = json.loads(body[:length])
    assert doc["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(body[length : length + 8], "<f4").tolist() == [1.5, 2.5]
