"""The served ``probabilities`` in a predict response, for the drift monitor's output signal
(rollout/drift/signals.py). Best-effort like rollout/canary/payloads.py: None when the response
carries no probabilities (e.g. a client asked for another output). Tensors are read by
serving's decoder (serving/tensor_proto.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from models import features
from serving import tensor_proto


def _checked(values: Any) -> np.ndarray | None:
    try:
        array = np.asarray(values, np.float32)
    except (TypeError, ValueError):
        return None
    if array.ndim != 2 or array.shape[1] < 2:  # [N, classes]: the served model's classes
        return None
    return array


def probabilities_from_rest(body: dict[str, Any]) -> np.ndarray | None:
    """[N, classes] from a REST predict response (row or columnar format)."""
    if "predictions" in body:
        rows = body["predictions"]
        if rows and all(isinstance(r, dict) for r in rows):
            if not all(features.OUTPUT_PROBABILITIES in r for r in rows):
                return None
            return _checked([r[features.OUTPUT_PROBABILITIES] for r in rows])
        return _checked(rows)
    outputs = body.get("outputs")
    if isinstance(outputs, dict):
        return _checked(outputs.get(features.OUTPUT_PROBABILITIES))
    return None


def probabilities_from_grpc(response) -> np.ndarray | None:
    """[N, classes] from a ``PredictResponse``."""
    if features.OUTPUT_PROBABILITIES not in response.outputs:
        return None
    key = features.OUTPUT_PROBABILITIES
    return _checked(tensor_proto.to_array(key, response.outputs[key]))


def probabilities_from_oip(outputs: Mapping[str, np.ndarray]) -> np.ndarray | None:
    """[N, classes] from the decoded output tensors of an Open Inference Protocol answer
    (each tensor already has its declared shape)."""
    if features.OUTPUT_PROBABILITIES not in outputs:
        return None
    return _checked(outputs[features.OUTPUT_PROBABILITIES])
