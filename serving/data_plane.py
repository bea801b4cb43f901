"""The data plane: what every request does, whatever protocol carried it.

Front ends (REST ``/v1``, gRPC ``PredictionService``/``ModelService``, the Open Inference
Protocol in :mod:`serving.oip`) only decode their wire format, call one method here inside
``with plane.track(protocol, api, model) as t:``, and encode what comes back. Everything
else happens here, once:

* **lease** the version a :class:`ModelRef` resolves to (name, version or label), held until
  the call returns so an unload never fails a request in flight;
* **look up the signature** (an unknown name is the API's TF Serving error, listing the
  signatures that exist);
* **run** it (:mod:`serving.inference`: Predict, Classify, Regress, MultiInference);
* **status and metadata** answers (:meth:`status`, :meth:`metadata`, :meth:`model_info`,
  :meth:`ready`);
* **errors**: anything escaping a call leaves :meth:`track` as a typed
  :class:`~serving.errors.ServingError`; an unexpected exception (a bug) becomes ``INTERNAL``
  and its traceback goes to the log. Front ends map the code with :mod:`serving.errors`.
* **metrics and the request log**: every tracked call is timed and counted.

Model calls run on the caller's thread (a gRPC worker or a REST pool thread); there is no
global lock, TensorFlow releases the GIL while it computes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving import inference
from serving.errors import (
    NotFound,
    ServingError,
    UnexpectedError,
    code_number,
    from_exception,
)
from serving.inference import RunOptions, SignatureLookup
from serving.metrics import RequestLog, ServerMetrics
from serving.model_manager import ModelManager, VersionStatus
from serving.servable import AVAILABLE, Servable
from serving.signatures import DEFAULT_SIGNATURE, Signature, TensorSpec, batch_size

log = logging.getLogger("serving.data_plane")


@dataclass(frozen=True)
class ModelRef:
    """Which model version a request asks for: the latest, a version, or a label."""

    name: str
    version: int | None = None
    label: str | None = None


@dataclass
class Tracked:
    """What one request touched, filled in as it goes; logged and counted at the end."""

    protocol: str
    api: str
    model: str
    version: int | None = None
    signature: str = ""
    batch: int = 0
    code: str = "OK"


@dataclass(frozen=True)
class Prediction:
    """A Predict/infer answer: the version and signature that ran, output alias -> array."""

    version: int
    signature: str
    outputs: dict[str, np.ndarray]


@dataclass(frozen=True)
class TensorInfo:
    """One signature input or output: alias, numpy dtype (object: strings), shape
    (``None`` for an unknown dimension; ``shape`` is ``None`` for an unknown rank)."""

    name: str
    dtype: np.dtype
    shape: tuple[int | None, ...] | None


@dataclass(frozen=True)
class ModelInfo:
    """A model's metadata as protocol-neutral data: its AVAILABLE versions and one
    signature's inputs and outputs (those of ``serving_default`` unless named)."""

    name: str
    versions: list[int]
    signature: str
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)


def status_response(statuses: Sequence[VersionStatus]) -> Any:
    """TF Serving's GetModelStatusResponse (gRPC answers it, REST renders it as JSON)."""
    from tensorflow_serving.apis import get_model_status_pb2

    response = get_model_status_pb2.GetModelStatusResponse()
    for s in statuses:
        entry = response.model_version_status.add()
        entry.version = s.version
        entry.state = get_model_status_pb2.ModelVersionStatus.State.Value(s.state)
        entry.status.error_code = code_number(s.error_code)
        entry.status.error_message = s.error_message
    return response


def _tensor_info(spec: TensorSpec) -> TensorInfo:
    return TensorInfo(spec.key, spec.np_dtype, spec.shape)


class DataPlane:
    """The request flow over a :class:`ModelManager`; shared by every front end."""

    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics,
        request_log: RequestLog,
        *,
        method_check: bool = False,
        rest_timeout_ms: int = 0,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.request_log = request_log
        self._grpc_options = RunOptions(0, method_check)
        # TF Serving applies --rest_api_timeout_in_ms to REST requests only.
        self._rest_options = RunOptions(rest_timeout_ms, method_check)

    def run_options(self, protocol: str) -> RunOptions:
        """REST front ends (protocol ``rest`` or ``rest-*``) get the REST timeout."""
        return self._rest_options if protocol.startswith("rest") else self._grpc_options

    # -- accounting ---------------------------------------------------------------------------
    @contextmanager
    def track(self, protocol: str, api: str, model: str) -> Iterator[Tracked]:
        """Time and count one request; anything raised leaves as a typed ServingError."""
        t = Tracked(protocol, api, model)
        start = time.perf_counter()
        try:
            yield t
        except Exception as exc:
            err = from_exception(exc)
            if isinstance(err, UnexpectedError):
                log.error("%s %s on %r failed unexpectedly", protocol, api, model, exc_info=exc)
            t.code = err.code
            raise err from (None if err is exc else exc)
        finally:
            self._record(t, time.perf_counter() - start)

    def count_failure(self, protocol: str, api: str, model: str, err: ServingError) -> None:
        """Count and log a request refused before it could be handled (e.g. body too big)."""
        self._record(Tracked(protocol, api, model, code=err.code), 0.0)

    def _record(self, t: Tracked, seconds: float) -> None:
        version = "" if t.version is None else str(t.version)
        self.metrics.observe(
            model=t.model,
            version=version,
            api=t.api,
            protocol=t.protocol,
            code=t.code,
            seconds=seconds,
        )
        if self.request_log.enabled:
            self.request_log.write(
                protocol=t.protocol,
                api=t.api,
                model=t.model,
                version=version,
                signature=t.signature,
                status=t.code,
                latency_ms=round(seconds * 1000, 3),
                batch_size=t.batch,
            )

    # -- leasing ------------------------------------------------------------------------------
    @contextmanager
    def lease(self, t: Tracked, ref: ModelRef) -> Iterator[Servable]:
        """The model version ``ref`` resolves to, held until the block ends."""
        servable = self.manager.acquire(ref.name, ref.version, ref.label)
        t.version = servable.version
        try:
            yield servable
        finally:
            servable.release()

    # -- inference ----------------------------------------------------------------------------
    def predict(
        self,
        t: Tracked,
        ref: ModelRef,
        signature_name: str,
        decode: Callable[[Signature], Mapping[str, np.ndarray]],
        *,
        output_filter: Sequence[str] = (),
        lookup: SignatureLookup = inference.GRPC_PREDICT,
    ) -> Prediction:
        """Run a signature: ``decode(signature)`` turns the request into input arrays (REST
        JSON needs the signature's dtypes to decode; binary forms may ignore it)."""
        with self.lease(t, ref) as servable:
            sig = inference.find_signature(servable, signature_name, lookup)
            t.signature = sig.name
            inputs = decode(sig)
            t.batch = batch_size(inputs)
            outputs = inference.predict(
                servable, sig, inputs, output_filter, self.run_options(t.protocol)
            )
            return Prediction(servable.version, sig.name, outputs)

    def classify(self, t: Tracked, ref: ModelRef, signature_name: str, request_input) -> Any:
        """(version, signature name, ClassificationResult) for an ``Input`` of tf.Examples."""
        with self.lease(t, ref) as servable:
            sig, result = inference.classify(
                servable, signature_name, request_input, self.run_options(t.protocol)
            )
            t.signature, t.batch = sig.name, len(result.classifications)
            return servable.version, sig.name, result

    def regress(self, t: Tracked, ref: ModelRef, signature_name: str, request_input) -> Any:
        """(version, signature name, RegressionResult) for an ``Input`` of tf.Examples."""
        with self.lease(t, ref) as servable:
            sig, result = inference.regress(
                servable, signature_name, request_input, self.run_options(t.protocol)
            )
            t.signature, t.batch = sig.name, len(result.regressions)
            return servable.version, sig.name, result

    def multi_inference(self, t: Tracked, ref: ModelRef, request) -> Any:
        """A MultiInferenceResponse (the tasks name the model; ``ref`` picks the version)."""
        with self.lease(t, ref) as servable:
            return inference.multi_inference(servable, request, self.run_options(t.protocol))

    # -- status and metadata ------------------------------------------------------------------
    def status(self, t: Tracked, ref: ModelRef) -> list[VersionStatus]:
        """ModelVersionStatus entries (newest first) for the model, version or label."""
        statuses = self.manager.status(ref.name, ref.version, ref.label)
        if ref.version is not None or ref.label:
            t.version = statuses[0].version
        return statuses

    def metadata(self, t: Tracked, ref: ModelRef) -> tuple[int, Any]:
        """(version, SignatureDefMap proto) of the version ``ref`` resolves to."""
        with self.lease(t, ref) as servable:
            return servable.version, servable.signature_def_map

    def model_info(self, t: Tracked, ref: ModelRef, signature_name: str = "") -> ModelInfo:
        """Protocol-neutral metadata: versions and one signature's typed inputs/outputs."""
        with self.lease(t, ref) as servable:
            sig = inference.find_signature(servable, signature_name, inference.REST_PREDICT)
            t.signature = sig.name
            if ref.version is not None:
                versions = [servable.version]
            else:
                versions = self.manager.available_versions().get(ref.name, [])
            return ModelInfo(
                ref.name,
                versions,
                sig.name,
                [_tensor_info(s) for _, s in sorted(sig.inputs.items())],
                [_tensor_info(s) for _, s in sorted(sig.outputs.items())],
            )

    def ready(self, ref: ModelRef) -> bool:
        """Whether ``ref`` resolves to an AVAILABLE version now (False for unknown models)."""
        try:
            servable = self.manager.acquire(ref.name, ref.version, ref.label)
        except ServingError:
            return False
        try:
            return servable.state == AVAILABLE
        finally:
            servable.release()

    def any_ready(self) -> bool:
        """Whether any model has an AVAILABLE version (server readiness, gRPC health)."""
        return any(self.manager.available_versions().values())

    def model_names(self) -> list[str]:
        return self.manager.model_names()

    def require_model(self, name: str) -> None:
        """NOT_FOUND unless ``name`` is a configured model."""
        if name not in self.manager.model_names():
            raise NotFound(f"Servable not found for request: Latest({name})")


__all__ = [
    "DEFAULT_SIGNATURE",
    "DataPlane",
    "ModelInfo",
    "ModelRef",
    "Prediction",
    "TensorInfo",
    "Tracked",
    "status_response",
]
