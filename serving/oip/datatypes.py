"""The Open Inference Protocol's tensor datatypes, and tensors to and from their encodings.

One table ties each protocol datatype (``FP32``, ``BYTES``...) to the numpy dtype a
SavedModel feeds and fetches and to TensorFlow's ``DataType``: every datatype the protocol
lists that a SavedModel can hold (BF16 through ``ml_dtypes``, as TensorFlow itself does).

Three encodings exist, and every front end decodes through this module, so one request
fails the same way on REST and gRPC:

* *values*: a JSON ``data`` list (flat or nested, row-major) or gRPC typed ``contents``;
  values are checked against the datatype, never cast silently (300 is not a UINT8);
* *raw*: the flattened little-endian elements (REST binary extension, gRPC
  ``raw_input_contents``); BYTES elements are each prefixed by a 4-byte little-endian
  length;
* shapes: non-negative dimensions whose element count is the data's, and whose decoded
  size stays under ``MAX_DECODED_TENSOR_BYTES`` (a huge dimension is a client error, never
  an allocation).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np
from tensorflow.core.framework import types_pb2

from serving.defaults import MAX_DECODED_TENSOR_BYTES
from serving.errors import InvalidArgument

BYTES = "BYTES"
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class Datatype:
    """One protocol datatype: its name, numpy dtype and TensorFlow DataType enum."""

    name: str
    np_dtype: np.dtype
    tf_enum: int

    @property
    def item_size(self) -> int:
        """Bytes per element in raw form (0 for BYTES: variable)."""
        return 0 if self.name == BYTES else self.np_dtype.itemsize


_TABLE = (
    Datatype("BOOL", np.dtype(np.bool_), types_pb2.DT_BOOL),
    Datatype("UINT8", np.dtype(np.uint8), types_pb2.DT_UINT8),
    Datatype("UINT16", np.dtype(np.uint16), types_pb2.DT_UINT16),
    Datatype("UINT32", np.dtype(np.uint32), types_pb2.DT_UINT32),
    Datatype("UINT64", np.dtype(np.uint64), types_pb2.DT_UINT64),
    Datatype("INT8", np.dtype(np.int8), types_pb2.DT_INT8),
    Datatype("INT16", np.dtype(np.int16), types_pb2.DT_INT16),
    Datatype("INT32", np.dtype(np.int32), types_pb2.DT_INT32),
    Datatype("INT64", np.dtype(np.int64), types_pb2.DT_INT64),
    Datatype("FP16", np.dtype(np.float16), types_pb2.DT_HALF),
    Datatype("FP32", np.dtype(np.float32), types_pb2.DT_FLOAT),
    Datatype("FP64", np.dtype(np.float64), types_pb2.DT_DOUBLE),
    Datatype("BF16", np.dtype(ml_dtypes.bfloat16), types_pb2.DT_BFLOAT16),
    Datatype(BYTES, np.dtype(object), types_pb2.DT_STRING),
)
BY_NAME = {d.name: d for d in _TABLE}
_BY_NP = {d.np_dtype: d for d in _TABLE}
NAMES = tuple(BY_NAME)


def by_name(name: object, tensor: str) -> Datatype:
    """The datatype called ``name`` (INVALID_ARGUMENT naming the known ones otherwise)."""
    found = BY_NAME.get(name) if isinstance(name, str) else None
    if found is None:
        raise InvalidArgument(
            f"tensor '{tensor}': unsupported datatype {name!r}, expected one of {', '.join(NAMES)}"
        )
    return found


def for_numpy(dtype: np.dtype) -> Datatype | None:
    """The protocol datatype of a numpy dtype (object: BYTES; None if there is none)."""
    return _BY_NP.get(np.dtype(dtype))


def for_array(array: np.ndarray) -> Datatype:
    """The protocol datatype of an output array (strings are BYTES)."""
    found = for_numpy(array.dtype)
    if found is None:
        raise InvalidArgument(f"output dtype {array.dtype} has no Open Inference Protocol datatype")
    return found


def check_shape(shape: object, tensor: str, dtype: Datatype) -> tuple[int, ...]:
    """A request shape as a tuple of non-negative ints that decodes to a bounded size."""
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in shape
    ):
        raise InvalidArgument(f"tensor '{tensor}': shape must be a list of integers, got {shape!r}")
    if any(d < 0 for d in shape):
        raise InvalidArgument(f"tensor '{tensor}': negative dimension in shape {list(shape)}")
    count = math.prod(shape)
    if count * max(dtype.item_size, 1) > MAX_DECODED_TENSOR_BYTES:
        raise InvalidArgument(
            f"tensor '{tensor}': shape {list(shape)} would decode to more than "
            f"{MAX_DECODED_TENSOR_BYTES} bytes"
        )
    return tuple(shape)


def _mismatch(tensor: str, shape: Sequence[int], got: int) -> InvalidArgument:
    return InvalidArgument(
        f"tensor '{tensor}': shape {list(shape)} needs {math.prod(shape)} elements, "
        f"the data holds {got}"
    )


# -- values (JSON data, gRPC typed contents) -------------------------------------------------
def from_values(values: Any, tensor: str, dtype: Datatype, shape: Sequence[int]) -> np.ndarray:
    """The array for ``values`` (flat or nested lists), checked against datatype and shape."""
    if dtype.name == BYTES:
        return _bytes_from_values(values, tensor, shape)
    try:
        parsed = np.asarray(values)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument(f"tensor '{tensor}': data is not a regular array ({exc})") from exc
    if parsed.size != math.prod(shape):
        raise _mismatch(tensor, shape, parsed.size)
    kind = parsed.dtype.kind
    target = dtype.np_dtype
    if target.kind in "iu" and kind in "fO" and parsed.size:
        parsed = _python_ints(values, parsed, tensor, dtype)
        kind = parsed.dtype.kind
    if dtype.name == "BOOL":
        ok = kind == "b" or parsed.size == 0
    elif target.kind in "iu":
        ok = kind in "iu" or parsed.size == 0
        if ok and parsed.size:
            info = np.iinfo(target)
            low, high = parsed.min(), parsed.max()
            if low < info.min or high > info.max:
                raise InvalidArgument(
                    f"tensor '{tensor}': {dtype.name} values must lie in "
                    f"[{info.min}, {info.max}], got values in [{low}, {high}]"
                )
    else:  # FP16 / FP32 / FP64 / BF16
        ok = kind in "iuf" or parsed.size == 0
    if not ok:
        raise InvalidArgument(
            f"tensor '{tensor}': data must hold {dtype.name} values, got {parsed.dtype.name}"
        )
    with np.errstate(over="ignore"):  # an overflow is reported below, as a client error
        array = parsed.astype(target, copy=False).reshape(shape)
    if target.kind == "f" or dtype.name == "BF16":
        _check_float_range(parsed, array, tensor, dtype)
    return array


def _python_ints(values: Any, parsed: np.ndarray, tensor: str, dtype: Datatype) -> np.ndarray:
    """Integers numpy could not hold in one int64 (e.g. 0 beside 2**64-1 becomes float64):
    checked one by one in Python, then converted if they fit the datatype."""
    flat = np.array(values, dtype=object).reshape(-1)
    if not all(type(v) is int for v in flat):
        return parsed  # floats or mixtures: refused by the caller's kind check
    info = np.iinfo(dtype.np_dtype)
    low, high = min(flat), max(flat)
    if low < info.min or high > info.max:
        raise InvalidArgument(
            f"tensor '{tensor}': {dtype.name} values must lie in "
            f"[{info.min}, {info.max}], got values in [{low}, {high}]"
        )
    return flat.astype(dtype.np_dtype).reshape(parsed.shape)


def _check_float_range(parsed: np.ndarray, array: np.ndarray, tensor: str, dtype: Datatype):
    """A finite value that overflows the float type is a client error, not an infinity."""
    if parsed.size and parsed.dtype.kind == "f" and array.dtype != parsed.dtype:
        overflowed = np.isinf(array.astype(np.float64)) & np.isfinite(parsed.reshape(array.shape))
        if overflowed.any():
            raise InvalidArgument(f"tensor '{tensor}': values out of {dtype.name} range")


def _bytes_from_values(values: Any, tensor: str, shape: Sequence[int]) -> np.ndarray:
    flat: list[bytes] = []
    _flatten_bytes(values, tensor, flat, depth=0)
    if len(flat) != math.prod(shape):
        raise _mismatch(tensor, shape, len(flat))
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(shape)


def _flatten_bytes(values: Any, tensor: str, out: list[bytes], depth: int) -> None:
    if depth > 64:
        raise InvalidArgument(f"tensor '{tensor}': data is nested too deeply")
    if not isinstance(values, (list, tuple)):
        values = [values]
    for v in values:
        if isinstance(v, str):
            out.append(v.encode("utf-8"))
        elif isinstance(v, (bytes, bytearray)):
            out.append(bytes(v))
        elif isinstance(v, (list, tuple)):
            _flatten_bytes(v, tensor, out, depth + 1)
        else:
            raise InvalidArgument(
                f"tensor '{tensor}': BYTES data must be strings, got {type(v).__name__}"
            )


def to_values(array: np.ndarray) -> list | np.ndarray:
    """An output's values, flat and row-major: BYTES as a list of text, numbers as a
    contiguous array (orjson writes those natively, far faster than a list of floats)."""
    flat = array.reshape(-1)
    if flat.dtype == object:
        return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in flat.tolist()]
    if flat.dtype == ml_dtypes.bfloat16:
        flat = flat.astype(np.float32)
    return np.ascontiguousarray(flat)


def is_utf8_text(array: np.ndarray) -> bool:
    """Whether a BYTES array can be sent as JSON strings without losing bytes."""
    try:
        for v in array.reshape(-1).tolist():
            if isinstance(v, bytes):
                v.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- raw (binary extension, gRPC raw contents) -----------------------------------------------
def from_raw(raw: bytes | memoryview, tensor: str, dtype: Datatype, shape: Sequence[int]):
    """The array held by raw little-endian bytes (exactly the shape's size)."""
    count = math.prod(shape)
    if dtype.name == BYTES:
        return _bytes_from_raw(raw, tensor, shape, count)
    want = count * dtype.item_size
    if len(raw) != want:
        raise InvalidArgument(
            f"tensor '{tensor}': shape {list(shape)} of {dtype.name} needs {want} bytes, "
            f"got {len(raw)}"
        )
    array = np.frombuffer(raw, dtype=dtype.np_dtype.newbyteorder("<"), count=count)
    if dtype.name == "BOOL" and count and array.view(np.uint8).max() > 1:
        raise InvalidArgument(f"tensor '{tensor}': BOOL bytes must be 0 or 1")
    return array.astype(dtype.np_dtype, copy=False).reshape(shape)


def _bytes_from_raw(raw: bytes | memoryview, tensor: str, shape: Sequence[int], count: int):
    view = memoryview(raw)
    if count * _LENGTH.size > len(view):  # before allocating: a huge shape, a few bytes
        raise InvalidArgument(
            f"tensor '{tensor}': shape {list(shape)} needs at least {count * _LENGTH.size} "
            f"bytes of BYTES data, got {len(view)}"
        )
    out = np.empty(count, dtype=object)
    offset = 0
    for i in range(count):
        if offset + 4 > len(view):
            raise _mismatch(tensor, shape, i)
        (length,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + length > len(view):
            raise InvalidArgument(
                f"tensor '{tensor}': element {i} claims {length} bytes, "
                f"only {len(view) - offset} remain"
            )
        out[i] = bytes(view[offset : offset + length])
        offset += length
    if offset != len(view):
        raise InvalidArgument(
            f"tensor '{tensor}': {len(view) - offset} bytes left over after {count} elements"
        )
    return out.reshape(shape)


def to_raw(array: np.ndarray) -> bytes:
    """The raw little-endian form of an output array."""
    if array.dtype == object:
        parts = []
        for v in array.reshape(-1).tolist():
            b = v if isinstance(v, bytes) else str(v).encode("utf-8")
            parts.append(_LENGTH.pack(len(b)))
            parts.append(b)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
