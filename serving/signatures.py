"""SignatureDefs of a loaded model, and the request checks TF Serving makes against them.

TF Serving checks only what its predictor checks (``predict_util`` / ``classifier`` /
``regressor``): the set of input aliases, output filters, and for classify/regress the
signature's input and output keys. Shapes and dtypes are left to TensorFlow itself, so
whatever TensorFlow can run, runs. The messages are TF Serving's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from serving.errors import Internal, invalid
from serving.model_paths import SAVED_MODEL_FILE

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_INPUTS, CLASSIFY_CLASSES, CLASSIFY_SCORES = "inputs", "classes", "scores"
REGRESS_INPUTS, REGRESS_OUTPUTS = "inputs", "outputs"


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: alias, graph tensor name, dtype, shape."""

    key: str
    name: str
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
    defaults: Mapping[str, np.ndarray] = field(default_factory=dict)


def _np_dtype(dtype_enum: int) -> np.dtype:
    import tensorflow as tf

    try:
        dtype = tf.dtypes.as_dtype(dtype_enum)
        return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
    except (TypeError, ValueError):  # DT_INVALID (init op), resources, variants
        return np.dtype(object)


def _spec(key: str, info) -> TensorSpec:
    shape = (
        None
        if info.tensor_shape.unknown_rank
        else tuple(None if d.size < 0 else int(d.size) for d in info.tensor_shape.dim)
    )
    return TensorSpec(key, info.name, int(info.dtype), _np_dtype(info.dtype), shape)


def read_signature_defs(version_dir: Path, tags: Sequence[str] = ("serve",)):
    """The SignatureDef map of the meta graph with ``tags``, as a ``SignatureDefMap``."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((Path(version_dir) / SAVED_MODEL_FILE).read_bytes())
    wanted = set(tags)
    graphs = [g for g in saved.meta_graphs if set(g.meta_info_def.tags) == wanted]
    if not graphs:
        raise ValueError(f"{version_dir} has no meta graph tagged {sorted(wanted)}")
    return signature_def_map(graphs[0])


def signature_def_map(meta_graph):
    """A meta graph's SignatureDefs as the ``SignatureDefMap`` GetModelMetadata returns."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    out = get_model_metadata_pb2.SignatureDefMap()
    for name, sig in meta_graph.signature_def.items():
        out.signature_def[name].CopyFrom(sig)
    return out


def parse_signatures(sig_map) -> dict[str, Signature]:
    """Every SignatureDef keyed by name (the init op included: TF Serving lists it too)."""
    from serving import tensor_proto

    sigs = {}
    for name, sig in sig_map.signature_def.items():
        defaults = {}
        for key, proto in getattr(sig, "defaults", {}).items():
            defaults[key] = tensor_proto.to_array(key, proto)
        sigs[name] = Signature(
            name,
            sig.method_name,
            {k: _spec(k, v) for k, v in sig.inputs.items()},
            {k: _spec(k, v) for k, v in sig.outputs.items()},
            defaults,
        )
    return sigs


def _join(names) -> str:
    return ",".join(sorted(names))


def predict_feeds(sig: Signature, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Graph tensor name -> array for a predict request (TF Serving's input-alias checks)."""
    sent, wanted = set(inputs), set(sig.inputs)
    if len(sent) > len(wanted) or (len(sent) < len(wanted) and not sig.defaults):
        raise invalid(
            f"input size does not match signature: {len(sent)}!={len(wanted)} "
            f"len({{{_join(sent)}}}) != len({{{_join(wanted)}}}). Sent extra: "
            f"{{{_join(sent - wanted)}}}. Missing but required: "
            f"{{{_join(wanted - sent)}}}."
        )
    feeds = {}
    for alias, spec in sig.inputs.items():
        if alias in inputs:
            feeds[spec.name] = inputs[alias]
        elif alias in sig.defaults:
            feeds[spec.name] = sig.defaults[alias]
        else:
            raise invalid(
                f"Signature input alias: {alias} not found in request and no defaults given."
            )
    if sent - wanted:
        raise invalid(
            f"Inputs contains invalid name. Used request inputs: "
            f"{_join(sent & wanted)}, request inputs: {_join(sent)}"
        )
    return feeds


def predict_fetches(sig: Signature, output_filter: Sequence[str]) -> list[str]:
    """Output aliases to fetch: the filter (checked as TF Serving does) or all outputs."""
    seen: list[str] = []
    for alias in output_filter:
        if alias not in sig.outputs:
            raise invalid(
                f"output tensor alias not found in signature: {alias} Outputs "
                f"expected to be in the set {{{_join(sig.outputs)}}}."
            )
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.append(alias)
    return seen or list(sig.outputs)


def check_predict_method(sig: Signature, method_check: bool) -> None:
    if method_check and sig.method_name not in (PREDICT_METHOD, CLASSIFY_METHOD, REGRESS_METHOD):
        raise Internal(
            "Expected prediction signature method_name to be one "
            f"of {{{PREDICT_METHOD}, {CLASSIFY_METHOD}, {REGRESS_METHOD}}}. "
            f"Was: {sig.method_name}",
        )


def classify_tensors(sig: Signature, method_check: bool) -> tuple[str, dict[str, str]]:
    """(input tensor name, {"classes"/"scores": tensor name}) of a classification signature."""
    if method_check and sig.method_name != CLASSIFY_METHOD:
        raise invalid(
            f"Expected classification signature method_name to be "
            f"{CLASSIFY_METHOD}. Was: {sig.method_name}"
        )
    if len(sig.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if CLASSIFY_INPUTS not in sig.inputs:
        raise invalid(f"No classification inputs found in SignatureDef: {sig.name}")
    outs = {k: sig.outputs[k].name for k in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if k in sig.outputs}
    if not outs:
        raise invalid(
            "Expected classification signature outputs to contain at least one of "
            f'"{CLASSIFY_CLASSES}" or "{CLASSIFY_SCORES}". Signature was: {sig.name}'
        )
    return sig.inputs[CLASSIFY_INPUTS].name, outs


def regress_tensors(sig: Signature, method_check: bool) -> tuple[str, dict[str, str]]:
    """(input tensor name, {"outputs": tensor name}) of a regression signature."""
    if method_check and sig.method_name != REGRESS_METHOD:
        raise invalid(
            f"Expected regression signature method_name to be {REGRESS_METHOD}. "
            f"Was: {sig.method_name}"
        )
    if len(sig.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise invalid("Expected one output Tensor.")
    if REGRESS_INPUTS not in sig.inputs:
        raise invalid(f"No regression inputs found in SignatureDef: {sig.name}")
    if REGRESS_OUTPUTS not in sig.outputs:
        raise invalid(f"No regression outputs found in SignatureDef: {sig.name}")
    return sig.inputs[REGRESS_INPUTS].name, {REGRESS_OUTPUTS: sig.outputs[REGRESS_OUTPUTS].name}


def batch_size(inputs: Mapping[str, np.ndarray]) -> int:
    """Leading dimension shared by the inputs (0 for scalars); used for logs and batching."""
    sizes = {v.shape[0] if v.ndim else 0 for v in inputs.values()}
    return sizes.pop() if len(sizes) == 1 else 0


__all__ = [
    "CLASSIFY_METHOD",
    "DEFAULT_SIGNATURE",
    "PREDICT_METHOD",
    "REGRESS_METHOD",
    "Signature",
    "TensorSpec",
    "batch_size",
    "parse_signatures",
    "predict_feeds",
    "read_signature_defs",
    "signature_def_map",
]
