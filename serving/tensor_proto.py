"""gRPC tensors: ``TensorProto`` to numpy and back.

Numeric tensors take a fast path (``tensor_content`` bytes <-> ``np.frombuffer``), which is
what ``tf.make_tensor_proto`` produces for numpy input anyway but ~10x cheaper per call;
everything else (``*_val`` fields, half floats, ...) goes through TF's own converters, so
any tensor a client builds is read bit for bit. Malformed protos become INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from tensorflow.core.framework import tensor_pb2, types_pb2

from serving.errors import invalid

_NUMERIC = {
    types_pb2.DT_FLOAT: np.dtype(np.float32), types_pb2.DT_DOUBLE: np.dtype(np.float64),
    types_pb2.DT_INT8: np.dtype(np.int8), types_pb2.DT_INT16: np.dtype(np.int16),
    types_pb2.DT_INT32: np.dtype(np.int32), types_pb2.DT_INT64: np.dtype(np.int64),
    types_pb2.DT_UINT8: np.dtype(np.uint8), types_pb2.DT_UINT16: np.dtype(np.uint16),
    types_pb2.DT_UINT32: np.dtype(np.uint32), types_pb2.DT_UINT64: np.dtype(np.uint64),
    types_pb2.DT_BOOL: np.dtype(np.bool_),
}
_ENUM = {dtype: enum for enum, dtype in _NUMERIC.items()}


def to_array(key: str, proto: tensor_pb2.TensorProto) -> np.ndarray:
    shape = [d.size for d in proto.tensor_shape.dim]
    dtype = _NUMERIC.get(proto.dtype)
    if dtype is not None and proto.tensor_content and all(s >= 0 for s in shape):
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if len(proto.tensor_content) != expected:
            raise invalid(f"input '{key}': tensor_content has {len(proto.tensor_content)} "
                          f"bytes, shape {shape} of {dtype.name} needs {expected}")
        return np.frombuffer(proto.tensor_content, dtype=dtype).reshape(shape)
    import tensorflow as tf

    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # bad dtype enums, value counts that do not fit the shape...
        raise invalid(f"input '{key}' is not a valid TensorProto: {exc}") from exc


def to_arrays(tensors: Mapping[str, tensor_pb2.TensorProto]) -> dict[str, np.ndarray]:
    return {key: to_array(key, proto) for key, proto in tensors.items()}


def to_proto(arr: np.ndarray) -> tensor_pb2.TensorProto:
    enum = _ENUM.get(arr.dtype)
    if enum is None and arr.dtype != object:
        import tensorflow as tf

        return tf.make_tensor_proto(arr)
    proto = tensor_pb2.TensorProto(dtype=enum if enum is not None else types_pb2.DT_STRING)
    for size in arr.shape:
        proto.tensor_shape.dim.add(size=size)
    if enum is not None:
        proto.tensor_content = np.ascontiguousarray(arr).tobytes()
    else:
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode()
                                for v in arr.ravel().tolist())
    return proto


def to_protos(arrays: Mapping[str, np.ndarray], only: Iterable[str] = ()) -> dict:
    """TensorProtos for ``arrays`` (restricted to ``only`` when it names any)."""
    wanted = list(only)
    unknown = sorted(set(wanted) - set(arrays))
    if unknown:
        raise invalid(f"output_filter names unknown outputs {unknown}; "
                      f"outputs are {sorted(arrays)}")
    return {k: to_proto(arrays[k]) for k in (wanted or list(arrays))}
