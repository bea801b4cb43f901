"""tf.Example inputs of Classify / Regress / MultiInference, from gRPC ``Input`` protos and
from the REST API's ``{"examples": [...], "context": {...}}`` JSON.

As in TF Serving: an ``ExampleListWithContext`` is fed as ``context + example`` serialized
bytes (protobuf merges them, the example's features win); an empty input is
``Input is empty.``; JSON features follow json_tensor's rules (integers -> int64_list,
decimals -> float_list, strings and ``{"b64": ...}`` -> bytes_list, booleans -> 0/1, one
kind per feature).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from serving.errors import ServingError, invalid
from serving.rest_json import decode_b64, is_b64, json_type

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def serialized_examples(request_input) -> np.ndarray:
    """The DT_STRING [n] tensor of serialized tf.Examples an ``Input`` stands for."""
    which = request_input.WhichOneof("kind")
    if which == "example_list":
        out = [e.SerializeToString() for e in request_input.example_list.examples]
    elif which == "example_list_with_context":
        lwc = request_input.example_list_with_context
        context = lwc.context.SerializeToString()
        out = [context + e.SerializeToString() for e in lwc.examples]
    else:
        out = []
    if not out:
        raise invalid("Input is empty.")
    arr = np.empty(len(out), dtype=object)
    arr[:] = out
    return arr


def _kind_error(name: str, kind: str) -> ServingError:
    return invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_value(value: Any, name: str, feature, kind: list[str]) -> None:
    """Append one JSON value to ``feature``; ``kind`` holds the feature's kind once set."""
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_b64(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")
    if isinstance(value, bool) or isinstance(value, int):
        if not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
            if value > _INT64_MAX and value < 2**64:
                raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
            want, value = "float", float(value)
        else:
            want = "int64"
    elif isinstance(value, float):
        want = "float"
    else:
        want = "bytes"
    if kind and kind[0] != want:
        raise _kind_error(name, kind[0])
    if not kind:
        kind.append(want)
    if want == "int64":
        feature.int64_list.value.append(int(value))
    elif want == "float":
        feature.float_list.value.append(value)
    elif isinstance(value, str):
        feature.bytes_list.value.append(value.encode())
    else:
        feature.bytes_list.value.append(decode_b64(value))


def example_from_json(value: Any, example) -> None:
    """Fill a ``tf.train.Example`` from one JSON object of feature name -> value(s)."""
    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    for name, content in value.items():
        feature = example.features.feature[name]
        kind: list[str] = []
        for item in content if isinstance(content, list) else [content]:
            _add_value(item, name, feature, kind)


def input_from_json(doc: dict, request_input) -> None:
    """Fill an ``Input`` proto from a REST classify/regress body (already a JSON object)."""
    has_context = "context" in doc
    if has_context:
        example_from_json(doc["context"], request_input.example_list_with_context.context)
    if "examples" not in doc:
        raise invalid(
            "JSON Value: request body When method is classify, key 'examples' is "
            "expected and was not found"
        )
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid("JSON Value: request body Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid("JSON Value: request body 'examples' value is an empty array")
    target = (
        request_input.example_list_with_context.examples
        if has_context
        else request_input.example_list.examples
    )
    for value in examples:
        example_from_json(value, target.add())
