"""gRPC tensors: ``TensorProto`` to numpy and back, with TensorFlow's own rules.

Reading (``Tensor::FromProto``): ``tensor_content`` must hold exactly the shape's bytes;
typed value fields (``float_val``, ...) may hold fewer values than the shape, the last one
repeating (none at all: zeros), never more. Anything else, or a shape that would decode to
more than ``MAX_DECODED_TENSOR_BYTES``, is INVALID_ARGUMENT ``tensor parsing error: <alias>``
as in TF Serving, never an allocation that takes the server down.

Writing (``Tensor::AsProtoField``): outputs go into the typed value fields, as TF Serving
answers, so clients reading ``outputs["y"].float_val`` get their values;
``tf.make_ndarray`` reads either form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.defaults import MAX_DECODED_TENSOR_BYTES
from serving.errors import invalid

_NUMERIC: dict[int, np.dtype[Any]] = {
    types_pb2.DT_FLOAT: np.dtype(np.float32),
    types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_INT8: np.dtype(np.int8),
    types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32),
    types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8),
    types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32),
    types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
    types_pb2.DT_HALF: np.dtype(np.float16),
    types_pb2.DT_COMPLEX64: np.dtype(np.complex64),
    types_pb2.DT_COMPLEX128: np.dtype(np.complex128),
}
_ENUM = {dtype: enum for enum, dtype in _NUMERIC.items()}
# The typed field each dtype's values live in (AsProtoField / FromProto).
_FIELD = {
    types_pb2.DT_FLOAT: "float_val",
    types_pb2.DT_DOUBLE: "double_val",
    types_pb2.DT_INT8: "int_val",
    types_pb2.DT_INT16: "int_val",
    types_pb2.DT_INT32: "int_val",
    types_pb2.DT_UINT8: "int_val",
    types_pb2.DT_UINT16: "int_val",
    types_pb2.DT_INT64: "int64_val",
    types_pb2.DT_UINT32: "uint32_val",
    types_pb2.DT_UINT64: "uint64_val",
    types_pb2.DT_BOOL: "bool_val",
    types_pb2.DT_STRING: "string_val",
    types_pb2.DT_HALF: "half_val",
    types_pb2.DT_COMPLEX64: "scomplex_val",
    types_pb2.DT_COMPLEX128: "dcomplex_val",
}


def _parse_error(key: str, why: str) -> Exception:
    return invalid(f"tensor parsing error: {key} ({why})")


def to_array(key: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    """The array a TensorProto stands for (INVALID_ARGUMENT if TensorFlow would refuse it)."""
    if proto.tensor_shape.unknown_rank:
        raise _parse_error(key, "unknown rank")
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(s < 0 for s in shape):
        raise _parse_error(key, f"negative dimension in shape {shape}")
    is_string = proto.dtype == types_pb2.DT_STRING
    dtype = np.dtype(object) if is_string else _NUMERIC.get(proto.dtype)
    if dtype is None:
        raise _parse_error(
            key,
            f"unsupported dtype {types_pb2.DataType.Name(proto.dtype)}"
            if proto.dtype in types_pb2.DataType.values()
            else "invalid dtype",
        )
    count = 1
    for s in shape:
        count *= s
    itemsize = 8 if is_string else dtype.itemsize
    if count * itemsize > MAX_DECODED_TENSOR_BYTES:
        raise _parse_error(
            key,
            f"shape {shape} exceeds the server's limit of "
            f"{MAX_DECODED_TENSOR_BYTES} bytes per tensor",
        )
    if proto.tensor_content and not is_string:
        if len(proto.tensor_content) != count * dtype.itemsize:
            raise _parse_error(
                key,
                f"tensor_content has {len(proto.tensor_content)} bytes, "
                f"shape {shape} of {dtype.name} needs {count * dtype.itemsize}",
            )
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    values = getattr(proto, _FIELD[proto.dtype])
    n = len(values)
    if proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        n //= 2
    if n > count:
        raise _parse_error(key, f"{n} values for shape {shape}")
    if is_string:
        flat = np.empty(n, dtype=object)
        flat[:] = list(values)
    elif proto.dtype == types_pb2.DT_HALF:
        flat = np.array(values, dtype=np.uint16).view(np.float16)
    elif dtype.kind == "c":
        part: type[np.floating[Any]] = np.float32 if dtype.itemsize == 8 else np.float64
        pairs = np.array(values, dtype=part)
        flat = (pairs[0::2] + 1j * pairs[1::2]).astype(dtype)
    else:
        flat = np.array(values, dtype=dtype) if n else np.empty(0, dtype=dtype)
    if n == count:
        return flat.reshape(shape)
    out = np.empty(count, dtype=dtype)
    if n == 0:
        out[:] = b"" if is_string else 0
    else:
        out[:n] = flat
        out[n:] = flat[-1]
    return out.reshape(shape)


def to_arrays(tensors: Mapping[str, tensor_pb2.TensorProto]) -> dict[str, np.ndarray]:
    return {key: to_array(key, proto) for key, proto in tensors.items()}


def to_proto(arr: np.ndarray, as_content: bool = False) -> tensor_pb2.TensorProto:
    """``AsProtoField`` (typed value fields, TF Serving's default) or, with ``as_content``,
    ``AsProtoTensorContent``; strings always use ``string_val``."""
    arr = np.asarray(arr)
    is_string = arr.dtype == object or arr.dtype.kind in "SU"
    enum = types_pb2.DT_STRING if is_string else _ENUM.get(arr.dtype)
    if enum is None:
        import tensorflow as tf

        return tf.make_tensor_proto(arr)
    proto = tensor_pb2.TensorProto(dtype=enum)
    for size in arr.shape:
        proto.tensor_shape.dim.add(size=size)
    if is_string:
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in arr.ravel().tolist()
        )
    elif as_content:
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
    elif enum == types_pb2.DT_HALF:
        proto.half_val.extend(arr.ravel().view(np.uint16).tolist())
    elif arr.dtype.kind == "c":
        flat = arr.ravel()
        getattr(proto, _FIELD[enum]).extend(
            np.stack([flat.real, flat.imag], axis=1).ravel().tolist()
        )
    else:
        getattr(proto, _FIELD[enum]).extend(arr.ravel().tolist())
    return proto


def to_protos(
    arrays: Mapping[str, np.ndarray], only: Iterable[str] = (), as_content: bool = False
) -> dict[str, tensor_pb2.TensorProto]:
    """TensorProtos for ``arrays`` (restricted to ``only`` when it names any)."""
    wanted = list(only)
    unknown = sorted(set(wanted) - set(arrays))
    if unknown:
        raise invalid(f"output tensor alias not found: {unknown}; outputs are {sorted(arrays)}")
    return {k: to_proto(arrays[k], as_content) for k in (wanted or list(arrays))}
