"""The Open Inference Protocol's REST bodies: JSON tensors and the binary tensor extension.

A request body is a JSON header optionally followed by a binary section; the header's
length is the ``Inference-Header-Content-Length`` HTTP header. An input whose parameters
carry ``binary_data_size`` takes that many bytes of the binary section, in input order,
instead of ``data``. An answer is the same: outputs asked for with ``binary_data: true``
(or the request-wide ``binary_data_output``) follow the JSON header as raw bytes.

Every malformed part (a header length that is not a number or lies about the body, sizes
that do not add up to the section, a shape that does not match the data) is
INVALID_ARGUMENT with a message naming the tensor, never an exception escaping the server.
"""

from __future__ import annotations

from typing import Any

from serving import rest_json
from serving.errors import InvalidArgument
from serving.oip import datatypes
from serving.oip.messages import (
    BINARY_DATA,
    BINARY_DATA_SIZE,
    InferRequest,
    InferResponse,
    InputTensor,
    RequestedOutput,
    check_parameters,
)

HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """(JSON header, binary section) of a request body."""
    if header_length is None:
        return body, memoryview(b"")
    text = header_length.strip()
    if not text.isdigit():
        raise InvalidArgument(f"{HEADER_LENGTH} must be a non-negative integer, got {text!r}")
    length = int(text)
    if length == 0 or length > len(body):
        raise InvalidArgument(
            f"{HEADER_LENGTH} is {length} but the body holds {len(body)} bytes"
            if length
            else f"{HEADER_LENGTH} is 0: the JSON header is missing"
        )
    view = memoryview(body)
    return bytes(view[:length]), view[length:]


def parse_infer_request(
    body: bytes, header_length: str | None, model_name: str, model_version: str | None
) -> InferRequest:
    """The request a REST ``.../infer`` body stands for."""
    header, binary = split_body(body, header_length)
    doc = rest_json.parse_body(header)
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidArgument("'id' must be a string")
    parameters = check_parameters(doc.get("parameters"), "request")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list):
        raise InvalidArgument("'inputs' must be a list of input tensors")
    offset = 0
    inputs = []
    for i, item in enumerate(raw_inputs):
        tensor, used = _parse_input(item, i, binary[offset:])
        inputs.append(tensor)
        offset += used
    if offset != len(binary):
        raise InvalidArgument(
            f"the binary section holds {len(binary)} bytes, the inputs' "
            f"{BINARY_DATA_SIZE} add up to {offset}"
        )
    return InferRequest(
        model_name,
        model_version,
        inputs,
        _parse_outputs(doc.get("outputs")),
        request_id,
        parameters,
    )


def _parse_input(item: Any, index: int, binary: memoryview) -> tuple[InputTensor, int]:
    """One input tensor, and how many bytes of the binary section it took."""
    if not isinstance(item, dict):
        raise InvalidArgument(f"input {index} must be an object")
    name = item.get("name")
    if not isinstance(name, str):
        raise InvalidArgument(f"input {index}: 'name' must be a string")
    dtype = datatypes.by_name(item.get("datatype"), name)
    if "shape" not in item:
        raise InvalidArgument(f"tensor '{name}': 'shape' is missing")
    shape = datatypes.check_shape(item["shape"], name, dtype)
    parameters = check_parameters(item.get("parameters"), f"input '{name}'")
    size = parameters.get(BINARY_DATA_SIZE)
    if size is None:
        if "data" not in item:
            raise InvalidArgument(f"tensor '{name}': 'data' is missing")
        return InputTensor(
            name, dtype.name, shape, datatypes.from_values(item["data"], name, dtype, shape)
        ), 0
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidArgument(f"tensor '{name}': {BINARY_DATA_SIZE} must be a non-negative integer")
    if "data" in item:
        raise InvalidArgument(f"tensor '{name}': both 'data' and {BINARY_DATA_SIZE} are given")
    if size > len(binary):
        raise InvalidArgument(
            f"tensor '{name}': {BINARY_DATA_SIZE} is {size} but only {len(binary)} bytes "
            "of binary data remain"
        )
    array = datatypes.from_raw(binary[:size], name, dtype, shape)
    return InputTensor(name, dtype.name, shape, array), size


def _parse_outputs(raw: Any) -> list[RequestedOutput]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidArgument("'outputs' must be a list of requested outputs")
    outputs = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InvalidArgument(f"output {i} must be an object with a string 'name'")
        parameters = check_parameters(item.get("parameters"), f"output '{item['name']}'")
        binary = parameters.get(BINARY_DATA)
        if binary is not None and not isinstance(binary, bool):
            raise InvalidArgument(f"output '{item['name']}': {BINARY_DATA} must be a boolean")
        outputs.append(RequestedOutput(item["name"], binary))
    return outputs


def encode_infer_response(
    response: InferResponse, request: InferRequest
) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the answer: JSON, plus a binary section if any output is binary.

    A BYTES output that is not UTF-8 text cannot be a JSON string; it goes in the binary
    section (with its ``binary_data_size``) rather than being altered.
    """
    outputs: list[dict[str, Any]] = []
    sections: list[bytes] = []
    for out in response.outputs:
        entry: dict[str, Any] = {"name": out.name, "datatype": out.datatype, "shape": out.shape}
        binary = request.binary_output(out.name) or (
            out.datatype == datatypes.BYTES and not datatypes.is_utf8_text(out.array)
        )
        if binary:
            raw = datatypes.to_raw(out.array)
            entry["parameters"] = {BINARY_DATA_SIZE: len(raw)}
            sections.append(raw)
        else:
            entry["data"] = datatypes.to_values(out.array)
        outputs.append(entry)
    doc: dict[str, Any] = {
        "model_name": response.model_name,
        "model_version": response.model_version,
        "outputs": outputs,
    }
    if response.id is not None:
        doc["id"] = response.id
    header = rest_json.dumps(doc)
    if not sections:
        return header, {"Content-Type": JSON_TYPE}
    headers = {"Content-Type": BINARY_TYPE, HEADER_LENGTH: str(len(header))}
    return b"".join([header, *sections]), headers
