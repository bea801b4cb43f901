"""TFLite models, served as TF Serving serves them with ``--prefer_tflite_model=true``.

A version folder holding ``model.tflite`` is loaded into TensorFlow's ``tf.lite.Interpreter``
instead of a SavedModel session (TF Serving's TfLiteSession). Its signatures (those the
converter kept, ``serving_default`` for a model without any) become ordinary SignatureDefs,
so GetModelMetadata, Predict with or without a signature name, REST and the Open Inference
Protocol work unchanged. A model carrying TF Serving's own SignatureDefs (TFLite's
``signature_defs_metadata`` entry, written by ``signature_def_utils.set_signature_defs``) is
served under those, as TF Serving does first: their aliases (``x``) name interpreter tensors
(``tflite_input``) by TensorFlow name, ``:0`` optional. TF Serving's interpreter pools:
``--num_tflite_pools`` pools of ``--num_tflite_interpreters_per_pool`` interpreters; a
request takes an idle interpreter (waiting for one when all are busy), so that many
requests run at once.

:class:`TfliteModel` has :class:`serving.runtime.LoadedModel`'s interface (``meta_graph``,
``run``, ``close``).
"""

from __future__ import annotations

import queue
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.errors import InvalidArgument
from serving.model_paths import TFLITE_FILE

PREDICT_METHOD = "tensorflow/serving/predict"
DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class _Tensor:
    signature: str  # "" for a model without signatures (plain interpreter inputs/outputs)
    alias: str
    index: int


class TfliteModel:
    """A ``model.tflite`` in a pool of interpreters; thread-safe :meth:`run`."""

    def __init__(self, path: Path | str, pools: int = 1, per_pool: int = 1) -> None:
        import tensorflow as tf

        self.path = Path(path)
        content = (self.path / TFLITE_FILE).read_bytes()
        count = max(1, pools) * max(1, per_pool)
        self._idle: queue.Queue[Any] = queue.Queue()
        for _ in range(count):
            interpreter = tf.lite.Interpreter(model_content=content)
            interpreter.allocate_tensors()
            self._idle.put(interpreter)
        self.interpreters = count
        self._by_name: dict[str, _Tensor] = {}
        self.meta_graph = self._meta_graph(self._idle.queue[0])

    def _meta_graph(self, interpreter: Any) -> Any:
        """A MetaGraphDef holding one SignatureDef per TFLite signature."""
        from tensorflow.core.protobuf import meta_graph_pb2

        meta = meta_graph_pb2.MetaGraphDef()
        legacy = legacy_signature_defs(self.path / TFLITE_FILE)
        signatures = interpreter.get_signature_list()
        if legacy:
            self._adopt_legacy(meta, legacy, interpreter)
        elif signatures:
            for key in signatures:
                runner = interpreter.get_signature_runner(key)
                sig = meta.signature_def[key]
                sig.method_name = PREDICT_METHOD
                self._fill(sig.inputs, key, runner.get_input_details())
                self._fill(sig.outputs, key, runner.get_output_details())
        else:  # an old converter's model: its inputs and outputs as serving_default
            sig = meta.signature_def[DEFAULT_SIGNATURE]
            sig.method_name = PREDICT_METHOD
            self._fill(sig.inputs, "", {d["name"]: d for d in interpreter.get_input_details()})
            self._fill(sig.outputs, "", {d["name"]: d for d in interpreter.get_output_details()})
        return meta

    def _adopt_legacy(self, meta: Any, legacy: Mapping[str, Any], interpreter: Any) -> None:
        """TF Serving's SignatureDefs as stored, each tensor name resolved to the interpreter's
        (exact, else without ``:0``); one that names no tensor fails the load, as there."""
        for key, signature in legacy.items():
            sig = meta.signature_def[key]
            sig.CopyFrom(signature)
            for kind, infos, details in (
                ("input", sig.inputs, interpreter.get_input_details()),
                ("output", sig.outputs, interpreter.get_output_details()),
            ):
                index_by_name = {d["name"]: int(d["index"]) for d in details}
                for alias, info in infos.items():
                    name = _resolve_tensor_name(info.name, index_by_name)
                    if name is None:
                        raise ValueError(
                            f"Signature {kind} {alias} references an unknown tensor: "
                            f"Unknown tensor '{info.name}'."
                        )
                    info.name = name
                    self._by_name[name] = _Tensor("", alias, index_by_name[name])

    def _fill(self, infos: Any, signature: str, details: Mapping[str, Mapping]) -> None:
        import tensorflow as tf

        for alias, detail in details.items():
            name = detail["name"]
            self._by_name[name] = _Tensor(signature, alias, int(detail["index"]))
            info = infos[alias]
            info.name = name
            info.dtype = tf.as_dtype(detail["dtype"]).as_datatype_enum
            for size in detail.get("shape_signature", detail["shape"]):
                info.tensor_shape.dim.add(size=int(size))

    def run(
        self, feeds: Mapping[str, np.ndarray], fetches: Sequence[str], timeout_ms: int = 0
    ) -> list[np.ndarray]:
        """Invoke the signature the fed tensors belong to; fetched arrays in order."""
        tensors = [self._tensor(name) for name in (*feeds, *fetches)]
        signatures = {t.signature for t in tensors}
        if len(signatures) != 1:
            raise InvalidArgument("a TFLite request must use the tensors of one signature")
        (signature,) = signatures
        interpreter = self._idle.get()
        try:
            if signature:
                runner = interpreter.get_signature_runner(signature)
                try:
                    out = runner(**{self._by_name[n].alias: v for n, v in feeds.items()})
                except ValueError as exc:  # wrong dtype/shape: TFLite's own words
                    raise InvalidArgument(str(exc)) from exc
                return [np.asarray(out[self._by_name[n].alias]) for n in fetches]
            return self._run_plain(interpreter, feeds, fetches)
        finally:
            self._idle.put(interpreter)

    def _run_plain(
        self, interpreter: Any, feeds: Mapping[str, np.ndarray], fetches: Sequence[str]
    ) -> list[np.ndarray]:
        try:
            for name, value in feeds.items():
                index = self._by_name[name].index
                interpreter.resize_tensor_input(index, np.shape(value))
            interpreter.allocate_tensors()
            for name, value in feeds.items():
                interpreter.set_tensor(self._by_name[name].index, value)
            interpreter.invoke()
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from exc
        return [np.array(interpreter.get_tensor(self._by_name[n].index)) for n in fetches]

    def _tensor(self, name: str) -> _Tensor:
        tensor = self._by_name.get(name)
        if tensor is None:
            raise InvalidArgument(f"{name} is not a tensor of this TFLite model")
        return tensor

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait()


LEGACY_SIGNATURES_METADATA = "signature_defs_metadata"


def legacy_signature_defs(model_file: Path) -> dict[str, Any]:
    """The SignatureDefs a TFLite model carries in its ``signature_defs_metadata`` entry (a
    FlexBuffer map: signature key -> serialized ``SignatureDef``); empty when it has none."""
    from flatbuffers import flexbuffers
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_file.read_bytes(), 0)
    entry = next(
        (m for m in model.metadata or [] if m.name == LEGACY_SIGNATURES_METADATA.encode()), None
    )
    if entry is None:
        return {}
    data = model.buffers[entry.buffer].data
    try:
        mapping = flexbuffers.GetRoot(bytes(data if data is not None else b"")).AsMap
        out = {}
        for key, value in zip(mapping.Keys, mapping.Values, strict=True):
            raw = value.AsStringBytes if value.IsString else value.AsBlob
            out[key.AsKey] = meta_graph_pb2.SignatureDef.FromString(bytes(raw))
    except Exception as exc:  # a corrupt entry: TF Serving refuses the model too
        raise ValueError(f"Invalid SignatureDefs found in TfLite model: {exc}") from exc
    return out


def _resolve_tensor_name(name: str, index_by_name: Mapping[str, int]) -> str | None:
    """TF Serving's FixTfLiteTensorName: the name as is, else its TensorFlow ``:N`` suffix
    dropped (converters keep TensorFlow's op names)."""
    if name in index_by_name:
        return name
    bare = name.split(":", 1)[0]
    return bare if bare in index_by_name else None
