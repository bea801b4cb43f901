"""TF Serving's REST JSON for predict: row (``instances``) and columnar (``inputs``) requests,
``{"b64": …}`` for binary strings, and the matching ``predictions`` / ``outputs`` answers.

The rules follow TF Serving's json_tensor: a single-input signature may take bare values,
several inputs need objects keyed by input name; in row format every output must have the
batch as its first dimension; string outputs that are not UTF-8 (or whose name ends in
``_bytes``) are returned as ``{"b64": …}``. Every malformed request is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from serving.errors import invalid
from serving.signatures import Signature, TensorSpec

_B64 = re.compile(r"^[A-Za-z0-9+/_\-]*={0,2}$")
_URLSAFE = str.maketrans("-_", "+/")


def parse_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise invalid(f"JSON Parse error: {exc}") from exc
    if not isinstance(doc, dict):
        raise invalid("JSON request body must be an object")
    return doc


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _decode_b64(value: Any, where: str) -> bytes:
    """Standard or URL-safe base64, padding optional (as TF Serving's decoder accepts)."""
    text = value["b64"]
    if not isinstance(text, str):
        raise invalid(f"{where}: 'b64' value must be a string")
    body = text.rstrip("=")
    if not _B64.match(text) or len(body) % 4 == 1:
        raise invalid(f"{where}: invalid base64 in 'b64' value")
    body = body.translate(_URLSAFE)
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid(f"{where}: invalid base64 in 'b64' value: {exc}") from exc


def _string_leaves(value: Any, where: str) -> tuple[list[int], list[bytes]]:
    """Shape and flattened leaves of a (rectangular) nested list of strings / b64 objects."""
    if isinstance(value, str):
        return [], [value.encode()]
    if _is_b64(value):
        return [], [_decode_b64(value, where)]
    if isinstance(value, list):
        if not value:
            return [0], []
        parts = [_string_leaves(v, where) for v in value]
        shape = parts[0][0]
        if any(p[0] != shape for p in parts):
            raise invalid(f"{where}: ragged list (all elements must have the same shape)")
        return [len(value), *shape], [leaf for p in parts for leaf in p[1]]
    raise invalid(f"{where}: expected a string or {{\"b64\": ...}} for a DT_STRING input, "
                  f"got {type(value).__name__}")


def to_array(value: Any, spec: TensorSpec, where: str) -> np.ndarray:
    """One JSON value as an array of the spec's dtype (shape is checked by the signature)."""
    if spec.is_string:
        shape, leaves = _string_leaves(value, where)
        arr = np.empty(len(leaves), dtype=object)
        arr[:] = leaves
        return arr.reshape(shape)
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise invalid(f"{where}: ragged or mixed list: {exc}") from exc
    target = spec.np_dtype
    kind = arr.dtype.kind
    if target.kind == "b":
        ok = kind == "b"
    elif target.kind in "iu":
        ok = kind in "iu"
        if ok and arr.size:
            info = np.iinfo(target)
            ok = info.min <= arr.min() and arr.max() <= info.max
            if not ok:
                raise invalid(f"{where}: values out of range for {target.name}")
    elif target.kind in "fc":
        ok = kind in "iuf"
    else:
        ok = False
    if not ok:
        got = "strings/objects" if kind in "OUS" else arr.dtype.name
        raise invalid(f"{where}: expects {target.name} values, got {got}")
    return arr.astype(target, copy=False)


def request_inputs(doc: Mapping[str, Any], sig: Signature) -> tuple[dict[str, np.ndarray], bool]:
    """Input arrays of a predict request and whether it used the row (``instances``) format."""
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows == has_cols:
        raise invalid("Missing 'inputs' or 'instances' key" if not has_rows else
                      "Request can have either 'inputs' or 'instances', not both")
    names = sorted(sig.inputs)
    if has_rows:
        rows = doc["instances"]
        if not isinstance(rows, list) or not rows:
            raise invalid("'instances' must be a non-empty list")
        per_key: dict[str, list] = {k: [] for k in names}
        for i, row in enumerate(rows):
            if isinstance(row, dict) and not _is_b64(row):
                if set(row) != set(names):
                    raise invalid(f"instance {i} has keys {sorted(row)}; signature "
                                  f"'{sig.name}' expects {names}")
                for k in names:
                    per_key[k].append(row[k])
            elif len(names) == 1:
                per_key[names[0]].append(row)
            else:
                raise invalid(f"instance {i} must be an object with keys {names}")
        return {k: to_array(v, sig.inputs[k], f"input '{k}'") for k, v in per_key.items()}, True
    cols = doc["inputs"]
    if isinstance(cols, dict) and not _is_b64(cols):
        if set(cols) != set(names):
            raise invalid(f"'inputs' has keys {sorted(cols)}; signature '{sig.name}' "
                          f"expects {names}")
        return {k: to_array(cols[k], sig.inputs[k], f"input '{k}'") for k in names}, False
    if len(names) != 1:
        raise invalid(f"'inputs' must be an object with keys {names}")
    return {names[0]: to_array(cols, sig.inputs[names[0]], f"input '{names[0]}'")}, False


def _jsonable(arr: np.ndarray, key: str) -> Any:
    if arr.dtype == object or arr.dtype.kind == "S":
        as_b64 = key.endswith("_bytes")

        def leaf(b: Any) -> Any:
            if isinstance(b, bytes):
                if not as_b64:
                    try:
                        return b.decode()
                    except UnicodeDecodeError:
                        pass
                return {"b64": base64.b64encode(b).decode()}
            return b

        def walk(x: Any) -> Any:
            return [walk(v) for v in x] if isinstance(x, list) else leaf(x)

        return walk(arr.tolist())
    return arr.tolist()


def response_body(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """``{"predictions": …}`` for row requests, ``{"outputs": …}`` for columnar ones."""
    if not row_format:
        if len(outputs) == 1:
            (key, value), = outputs.items()
            return {"outputs": _jsonable(value, key)}
        return {"outputs": {k: _jsonable(v, k) for k, v in outputs.items()}}
    sizes = {v.shape[0] if v.ndim else None for v in outputs.values()}
    if len(sizes) != 1 or None in sizes:
        raise invalid("row format needs every output to have the same first (batch) "
                      "dimension; use the columnar 'inputs' format")
    if len(outputs) == 1:
        (key, value), = outputs.items()
        return {"predictions": _jsonable(value, key)}
    columns = {k: _jsonable(v, k) for k, v in outputs.items()}
    n = sizes.pop()
    return {"predictions": [{k: columns[k][i] for k in columns} for i in range(n)]}
