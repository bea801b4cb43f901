"""Read what the router needs out of Open Inference Protocol (``/v2``, KServe v2) infer
payloads: request images (for drift), the served output tensors and their class ids (the
drift monitor's probabilities come from them through
:func:`rollout.drift.payloads.probabilities_from_oip`).

Tensors are decoded by the model server's own OIP code (:mod:`serving.oip.rest_codec`,
:mod:`serving.oip.grpc_service`, :mod:`serving.oip.datatypes`), so the router reads JSON
tensors, the binary tensor extension and gRPC's raw contents as the server does. As in
:mod:`rollout.canary.payloads`, a payload that cannot be read only misses its drift sample
or class counts; the request itself is forwarded untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from models import features
from rollout.canary.payloads import INPUTS, _images
from serving import rest_json
from serving.errors import ServingError
from serving.oip import datatypes, rest_codec
from serving.oip.messages import BINARY_DATA_SIZE

Tensors = dict[str, np.ndarray]


def _images_of(inputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """uint8 [N, H, W, C] from the one image input the request feeds (None: none)."""
    known = [name for name in inputs if name in INPUTS]
    if len(known) != 1:
        return None
    return _images(known[0], inputs[known[0]])


def images_from_rest(body: bytes, header_length: str | None) -> np.ndarray | None:
    """Images of a REST ``/infer`` body; raises ServingError for one the server refuses."""
    request = rest_codec.parse_infer_request(body, header_length, "", None)
    return _images_of({t.name: t.array for t in request.inputs})


def images_from_grpc(request: Any) -> np.ndarray | None:
    """Images of a ``ModelInferRequest``."""
    from serving.oip.grpc_service import decode_request

    return _images_of({t.name: t.array for t in decode_request(request).inputs})


def answer_from_rest(body: bytes, header_length: str | None) -> tuple[int | None, Tensors]:
    """The version that served a REST ``/infer`` answer (None: not a number) and its output
    tensors (JSON data or the binary section); (None, {}) for an unreadable answer."""
    try:
        header, binary = rest_codec.split_body(body, header_length)
        doc = rest_json.parse_body(header)
        served = str(doc.get("model_version", ""))
        outputs: Tensors = {}
        offset = 0
        for item in doc.get("outputs") or []:
            name, shape = str(item["name"]), [int(d) for d in item["shape"]]
            dtype = datatypes.by_name(item["datatype"], name)
            size = (item.get("parameters") or {}).get(BINARY_DATA_SIZE)
            if size is not None:
                raw = binary[offset : offset + int(size)]
                offset += int(size)
                outputs[name] = datatypes.from_raw(raw, name, dtype, shape)
            elif "data" in item:
                outputs[name] = datatypes.from_values(item["data"], name, dtype, shape)
    except (ServingError, AttributeError, KeyError, TypeError, ValueError):
        return None, {}
    return (int(served) if served.isdigit() else None), outputs


def outputs_from_grpc(response: Any) -> Tensors:
    """The output tensors of a ``ModelInferResponse`` (raw contents, or int64/fp32 ones)."""
    outputs: Tensors = {}
    raw = response.raw_output_contents
    try:
        for i, item in enumerate(response.outputs):
            dtype = datatypes.by_name(item.datatype, item.name)
            shape = [int(d) for d in item.shape]
            if i < len(raw):
                outputs[item.name] = datatypes.from_raw(raw[i], item.name, dtype, shape)
            elif item.contents.int64_contents:
                outputs[item.name] = np.array(item.contents.int64_contents).reshape(shape)
            elif item.contents.fp32_contents:
                outputs[item.name] = np.array(item.contents.fp32_contents).reshape(shape)
    except (ServingError, ValueError):
        return {}
    return outputs


def classes(outputs: Tensors) -> list[int]:
    """Predicted class ids (from ``class_ids``, else the argmax of ``probabilities``)."""
    if features.OUTPUT_CLASS_IDS in outputs:
        return [int(v) for v in np.ravel(outputs[features.OUTPUT_CLASS_IDS])]
    if features.OUTPUT_PROBABILITIES in outputs:
        probabilities = np.asarray(outputs[features.OUTPUT_PROBABILITIES], np.float64)
        return [int(v) for v in np.argmax(np.atleast_2d(probabilities), -1)]
    return []
