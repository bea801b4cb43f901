"""TF Serving's REST JSON (``json_tensor``): predict requests in row (``instances``) or
columnar (``inputs``) form, ``{"b64": ...}`` strings, and the ``predictions`` / ``outputs`` /
``results`` answers.

Rules, as in TF Serving: values must fit the signature input's dtype (a float for DT_FLOAT,
an integer for DT_INT*, ``true``/``false`` for DT_BOOL, a string or ``{"b64": ...}`` for
DT_STRING); lists must be dense; row-format objects carry every input; a single-input
signature may take bare values. Shapes are TensorFlow's business. Outputs whose name ends
in ``_bytes`` are written as ``{"b64": ...}`` (and, since JSON strings are text, so are
string outputs that are not UTF-8). Every malformed request is INVALID_ARGUMENT; a body too
deep to parse is one too, not a crash.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np

from serving.errors import Unimplemented, invalid
from serving.signatures import Signature, TensorSpec

orjson: ModuleType | None
try:  # a C JSON codec: 3-10x faster on big bodies; the stdlib one is the fallback
    import orjson
except ImportError:  # pragma: no cover - orjson is in the lock file
    orjson = None

_B64 = re.compile(r"^[A-Za-z0-9+/_\-]*={0,2}$")
_URLSAFE = str.maketrans("-_", "+/")
_INT32 = (-(2**31), 2**31 - 1)
_RANGES = {
    np.dtype(np.int64): (-(2**63), 2**63 - 1),
    np.dtype(np.uint32): (0, 2**32 - 1),
    np.dtype(np.uint64): (0, 2**64 - 1),
}


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's JSON object (NaN/Infinity accepted, as rapidjson's flag does)."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    doc: Any = None
    parsed = False
    if orjson is not None:
        try:
            doc, parsed = orjson.loads(body), True
        except orjson.JSONDecodeError:
            pass  # NaN/Infinity literals, or a real error: let the stdlib say which
    if not parsed:
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise invalid(f"JSON Parse error: {exc}") from exc
        except RecursionError as exc:
            raise invalid("JSON Parse error: nesting too deep") from exc
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {_short(doc)} Is not object")
    return doc


def dumps(doc: Any) -> bytes:
    if orjson is not None:
        return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
    return json.dumps(doc, default=_jsonable_default).encode()


def _jsonable_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _short(value: Any) -> str:
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def json_type(value: Any) -> str:
    """rapidjson's type names, as TF Serving's messages use them."""
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_b64(value: Any) -> bytes:
    """Standard or URL-safe base64, padding optional."""
    text = value["b64"]
    if len(text) % 4 == 0 and "-" not in text and "_" not in text:
        decoded = _decode_standard(text)
        if decoded is not None:
            return decoded
    body = text.rstrip("=")
    if not _B64.match(text) or len(body) % 4 == 1:
        raise invalid("Unable to base64 decode")
    body = body.translate(_URLSAFE)
    try:
        return base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid("Unable to base64 decode") from exc


def _decode_standard(text: str) -> bytes | None:
    """Standard padded base64 (length a multiple of 4) in one C pass, or None when ``text``
    is anything else (the general path then decodes it or gives the message).

    ``binascii.a2b_base64`` skips characters outside the alphabet and stops at a padding
    sequence instead of failing, so its output alone proves nothing. Its length does: each
    alphabet character before the trailing ``=`` adds 6 bits, and the output is exactly
    ``3 * len / 4 - padding`` bytes only if every one of them was consumed, i.e. ``text``
    is ``[A-Za-z0-9+/]*={0,2}``, what ``b64decode(validate=True)`` checks with a regular
    expression that costs twice the decode itself.
    """
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    try:
        decoded = binascii.a2b_base64(text)
    except (binascii.Error, ValueError):  # bad padding or length, non-ASCII text
        return None
    return decoded if len(decoded) == len(text) // 4 * 3 - padding else None


def _string_leaves(value: Any, depth: int = 0) -> tuple[list[int], list[bytes]]:
    """Shape and flattened leaves of a dense nested list of strings / b64 objects."""
    if isinstance(value, str):
        return [], [value.encode()]
    if is_b64(value):
        return [], [decode_b64(value)]
    if isinstance(value, list):
        if depth > 64:
            raise invalid("Encountered list nested too deep")
        if not value:
            return [0], []
        parts = [_string_leaves(v, depth + 1) for v in value]
        shape = parts[0][0]
        if any(p[0] != shape for p in parts):
            raise invalid(f"Encountered list at unexpected size at level: {depth}")
        return [len(value), *shape], [leaf for p in parts for leaf in p[1]]
    raise invalid(
        f"JSON Value: {_short(value)} Type: {json_type(value)} is not of expected type: string"
    )


def to_array(value: Any, spec: TensorSpec, where: str = "") -> np.ndarray:
    """One JSON value as an array of the spec's dtype (TF Serving's value-type rules)."""
    if spec.is_string:
        shape, leaves = _string_leaves(value)
        arr = np.empty(len(leaves), dtype=object)
        arr[:] = leaves
        return arr.reshape(shape)
    target = spec.np_dtype
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, RecursionError) as exc:
        raise invalid(f"{where or spec.key}: list is not dense (ragged or mixed types)") from exc
    kind = arr.dtype.kind
    want = target.name
    if target.kind == "b":
        ok = kind == "b"
    elif target.kind in "iu":
        ok = kind in "iu" or (kind == "O" and arr.size == 0)
        if ok and arr.size:
            lo, hi = _RANGES.get(target, _INT32)
            ok = lo <= int(arr.min()) and int(arr.max()) <= hi
            info = np.iinfo(target)
            if ok and not (info.min <= int(arr.min()) and int(arr.max()) <= info.max):
                # TF Serving would wrap 300 to 44 for DT_UINT8 and answer: a silent wrong
                # answer. Out of the input dtype's range is the client's error.
                raise invalid(
                    f"{where or spec.key}: values from {int(arr.min())} to {int(arr.max())} "
                    f"are outside the range of {want} [{info.min}, {info.max}]"
                )
    elif target.kind in "fc":
        ok = kind in "iuf"
    else:
        raise Unimplemented(f"Conversion of JSON Value to type: {want}")
    if not ok:
        got = {"b": "bool", "O": "object", "U": "string", "S": "string"}.get(kind, arr.dtype.name)
        raise invalid(f"JSON Value: {_short(value)} Type: {got} is not of expected type: {want}")
    return arr.astype(target, copy=False)


def request_inputs(doc: Mapping[str, Any], sig: Signature) -> tuple[dict[str, np.ndarray], bool]:
    """Input arrays of a predict request and whether it used the row (``instances``) form."""
    has_rows, has_cols = "instances" in doc, "inputs" in doc
    if has_rows and has_cols:
        raise invalid(
            "JSON Value: request body Not formatted correctly expecting only one "
            "of 'inputs' or 'instances' keys to exist "
        )
    if not sig.inputs:
        raise invalid(f"Failed to get input map for signature: {sig.name or 'DEFAULT'}")
    names = sorted(sig.inputs)
    if has_rows:
        return _rows(doc["instances"], sig, names), True
    if has_cols:
        return _columns(doc["inputs"], sig, names), False
    raise invalid("Missing 'inputs' or 'instances' key")


def _rows(rows: Any, sig: Signature, names: list[str]) -> dict[str, np.ndarray]:
    if not isinstance(rows, list):
        raise invalid("JSON Value: request body Expecting 'instances' to be an list/array")
    if not rows:
        raise invalid("JSON Value: request body No values in 'instances' array")

    def is_object(v: Any) -> bool:
        return isinstance(v, dict) and not is_b64(v)

    objects = is_object(rows[0])
    if not objects and len(names) > 1:
        raise invalid(
            "instances is a plain list, but expecting list of objects as multiple "
            "input tensors required as per tensorinfo_map"
        )
    if not objects:
        if any(is_object(r) for r in rows):
            i = next(i for i, r in enumerate(rows) if is_object(r))
            raise invalid(f"Expecting value/list but got object at item {i} of input list")
        return {names[0]: _stack(rows, sig.inputs[names[0]])}
    per_key: dict[str, list] = {k: [] for k in names}
    for i, row in enumerate(rows):
        if not is_object(row):
            raise invalid(f"Expecting object but got list at item {i} of input list")
        for key in row:
            if key not in per_key:
                raise invalid(
                    f"Failed to process element: {i} key: {key} of 'instances' "
                    f"list. Error: JSON object: does not have named input: {key}"
                )
        if set(row) != set(names):
            raise invalid(
                f"Failed to process element: {i} of 'instances' list. JSON object: "
                f"{_short(row)} keys must be equal to: {','.join(names)}"
            )
        for key in names:
            per_key[key].append(row[key])
    return {k: _stack(v, sig.inputs[k]) for k, v in per_key.items()}


def _stack(items: list, spec: TensorSpec) -> np.ndarray:
    """Instances of one input stacked on a new batch dimension; all must have one shape."""
    arr = to_array(items, spec)
    if arr.ndim == 0 or arr.shape[0] != len(items):
        raise invalid(f"Expecting tensor size to be the same for every instance of '{spec.key}'")
    return arr


def _columns(cols: Any, sig: Signature, names: list[str]) -> dict[str, np.ndarray]:
    if isinstance(cols, dict) and not is_b64(cols):
        out = {}
        for key in names:
            if key not in cols:
                raise invalid(f"Missing named input: {key} in 'inputs' object.")
            out[key] = to_array(cols[key], sig.inputs[key])
        return out
    if len(names) > 1:
        raise invalid(
            "inputs is a plain value/list, but expecting an object as multiple "
            "input tensors required as per tensorinfo_map"
        )
    return {names[0]: to_array(cols, sig.inputs[names[0]])}


def _jsonable(arr: np.ndarray, key: str) -> Any:
    """A numpy output as JSON-ready data (arrays stay arrays for the fast encoder)."""
    if arr.dtype != object and arr.dtype.kind not in "SU":
        if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
            return arr.astype(np.float32)
        if arr.dtype.kind == "c":
            raise invalid(f"Failed to write JSON value for tensor type: {arr.dtype.name}")
        return arr
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


def predict_response(outputs: Mapping[str, np.ndarray], row_format: bool) -> dict[str, Any]:
    """``{"predictions": ...}`` for row requests, ``{"outputs": ...}`` for columnar ones."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if not row_format:
        if len(outputs) == 1:
            ((key, value),) = outputs.items()
            return {"outputs": _jsonable(value, key)}
        return {"outputs": {k: _jsonable(v, k) for k, v in outputs.items()}}
    batch = None
    for key, value in outputs.items():
        if value.ndim == 0:
            raise invalid(f"Tensor name: {key} has no shape information ")
        if batch is not None and value.shape[0] != batch:
            raise invalid(
                f"Tensor name: {key} has inconsistent batch size: "
                f"{value.shape[0]} expecting: {batch}"
            )
        batch = value.shape[0]
    if len(outputs) == 1:
        ((key, value),) = outputs.items()
        return {"predictions": _jsonable(value, key)}
    columns = {k: _as_list(_jsonable(v, k)) for k, v in outputs.items()}
    return {"predictions": [{k: columns[k][i] for k in columns} for i in range(batch or 0)]}


def _as_list(value: Any) -> list:
    return value.tolist() if isinstance(value, np.ndarray) else value


def classify_response(result) -> dict[str, Any]:
    """``{"results": [[[label, score], ...], ...]}`` from a ClassificationResult."""
    if not result.classifications:
        raise invalid("Cannot convert empty ClassificationResults to JSON")
    return {
        "results": [[[c.label, c.score] for c in row.classes] for row in result.classifications]
    }


def regress_response(result) -> dict[str, Any]:
    """``{"results": [value, ...]}`` from a RegressionResult."""
    if not result.regressions:
        raise invalid("Cannot convert empty RegressionResults to JSON")
    return {"results": [r.value for r in result.regressions]}
