"""Signature metadata read from ``saved_model.pb``, and input checks against it.

TF Serving answers GetModelMetadata with the SignatureDefs stored in the SavedModel and
rejects inputs whose names, dtypes or shapes do not fit them with INVALID_ARGUMENT. Reading
the same protos here keeps both behaviours identical, for any model, not just ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving.errors import invalid
from serving.model_paths import SAVED_MODEL_FILE

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
INIT_OP_SIGNATURE = "__saved_model_init_op"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: TF dtype enum, numpy dtype, shape (None = any)."""

    key: str
    dtype_enum: int
    np_dtype: np.dtype
    shape: tuple[int | None, ...] | None  # None when the rank is unknown

    @property
    def is_string(self) -> bool:
        return self.np_dtype == np.dtype(object)


@dataclass(frozen=True)
class Signature:
    name: str
    method_name: str
    inputs: Mapping[str, TensorSpec]
    outputs: Mapping[str, TensorSpec]


def _spec(key: str, info) -> TensorSpec:
    import tensorflow as tf

    dtype = tf.dtypes.as_dtype(info.dtype)
    np_dtype = np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
    shape = None if info.tensor_shape.unknown_rank else tuple(
        None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    return TensorSpec(key, int(info.dtype), np_dtype, shape)


def read_signature_defs(version_dir: Path):
    """The SignatureDef map of the ``serve`` meta graph (a ``SignatureDefMap`` proto)."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(version_dir) / SAVED_MODEL_FILE).read_bytes())
    graphs = [g for g in saved.meta_graphs if "serve" in g.meta_info_def.tags] or list(
        saved.meta_graphs)
    if not graphs:
        raise ValueError(f"{version_dir} has no meta graph")
    out = get_model_metadata_pb2.SignatureDefMap()
    for name, sig in graphs[0].signature_def.items():
        out.signature_def[name].CopyFrom(sig)
    return out


def parse_signatures(signature_def_map) -> dict[str, Signature]:
    """Callable signatures (the init op is not one) keyed by name."""
    sigs = {}
    for name, sig in signature_def_map.signature_def.items():
        if name == INIT_OP_SIGNATURE:
            continue
        sigs[name] = Signature(
            name, sig.method_name,
            {k: _spec(k, v) for k, v in sig.inputs.items()},
            {k: _spec(k, v) for k, v in sig.outputs.items()})
    return sigs


def check_array(spec: TensorSpec, value: np.ndarray, what: str = "input") -> None:
    """INVALID_ARGUMENT unless ``value`` has the spec's dtype and a compatible shape."""
    if spec.is_string:
        if value.dtype != np.dtype(object) and value.dtype.kind != "S":
            raise invalid(f"{what} '{spec.key}' expects DT_STRING values, got {value.dtype}")
    elif value.dtype != spec.np_dtype:
        raise invalid(f"{what} '{spec.key}' expects {spec.np_dtype.name}, got {value.dtype}")
    if spec.shape is None:
        return
    if value.ndim != len(spec.shape):
        raise invalid(f"{what} '{spec.key}' expects rank {len(spec.shape)} "
                      f"(shape {_fmt(spec.shape)}), got shape {list(value.shape)}")
    for want, got in zip(spec.shape, value.shape, strict=True):
        if want is not None and want != got:
            raise invalid(f"{what} '{spec.key}' expects shape {_fmt(spec.shape)}, "
                          f"got {list(value.shape)}")


def check_inputs(sig: Signature, inputs: Mapping[str, np.ndarray]) -> None:
    """All and only the signature's inputs, each of the right dtype and shape."""
    missing = sorted(set(sig.inputs) - set(inputs))
    extra = sorted(set(inputs) - set(sig.inputs))
    if missing or extra:
        raise invalid(f"signature '{sig.name}' takes inputs {sorted(sig.inputs)}; "
                      f"missing {missing}, unexpected {extra}")
    for key, value in inputs.items():
        check_array(sig.inputs[key], value)


def batch_size(inputs: Mapping[str, np.ndarray]) -> int:
    """Leading dimension shared by the inputs (0 for scalars); used for logs and batching."""
    sizes = {v.shape[0] if v.ndim else 0 for v in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else 0


def _fmt(shape) -> str:
    return "[" + ",".join("-1" if d is None else str(d) for d in shape) + "]"
