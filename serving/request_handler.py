"""Protocol-neutral request handling shared by the gRPC and REST front ends.

Both front ends resolve the model the same way, run the same checks and record the same
metrics and log line, so they can only differ in wire format. Model calls run on the
caller's thread (gRPC worker or REST executor thread); there is no global lock, TF releases
the GIL while it computes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from serving.errors import ServingError, from_exception, invalid
from serving.metrics import RequestLog, ServerMetrics
from serving.model_manager import ModelManager, VersionStatus
from serving.signatures import CLASSIFY_METHOD, Signature, batch_size


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


@dataclass
class PredictResult:
    version: int
    signature: str
    outputs: dict[str, np.ndarray]


class RequestHandler:
    def __init__(self, manager: ModelManager, metrics: ServerMetrics,
                 request_log: RequestLog) -> None:
        self.manager = manager
        self.metrics = metrics
        self.request_log = request_log

    @contextmanager
    def track(self, protocol: str, api: str, model: str) -> Iterator[Tracked]:
        """Time a request; any exception leaves as a ServingError after being counted."""
        t = Tracked(protocol, api, model)
        start = time.perf_counter()
        try:
            yield t
        except Exception as exc:
            err = from_exception(exc)
            t.code = err.code
            raise err from (None if err is exc else exc)
        finally:
            seconds = time.perf_counter() - start
            version = "" if t.version is None else str(t.version)
            self.metrics.observe(model=t.model, version=version, api=api, protocol=protocol,
                                 code=t.code, seconds=seconds)
            self.request_log.write(protocol=protocol, api=api, model=t.model, version=version,
                                   signature=t.signature, status=t.code,
                                   latency_ms=round(seconds * 1000, 3), batch_size=t.batch)

    def predict(self, t: Tracked, version: int | None, label: str | None,
                signature_name: str | None,
                decode: Callable[[Signature], Mapping[str, np.ndarray]]) -> PredictResult:
        """Resolve the version, decode inputs against its signature, run it."""
        servable = self.manager.acquire(t.model, version, label)
        try:
            t.version = servable.version
            sig = servable.signature(signature_name)
            t.signature = sig.name
            inputs = decode(sig)
            t.batch = batch_size(inputs)
            return PredictResult(servable.version, sig.name, servable.run(sig, inputs))
        finally:
            servable.release()

    def classify(self, t: Tracked, version: int | None, label: str | None,
                 signature_name: str | None, examples: list[bytes]) -> PredictResult:
        """Run a classification signature on serialized tf.Examples."""
        servable = self.manager.acquire(t.model, version, label)
        try:
            t.version = servable.version
            sig = servable.signature(signature_name)
            t.signature = sig.name
            if sig.method_name != CLASSIFY_METHOD:
                raise invalid("Expected classification signature method_name to be "
                              f"{CLASSIFY_METHOD}. Was: {sig.method_name}")
            if len(sig.inputs) != 1:
                raise invalid(f"classification signature '{sig.name}' must have one input")
            if not examples:
                raise invalid("Classify request has no examples")
            key = next(iter(sig.inputs))
            arr = np.empty(len(examples), dtype=object)
            arr[:] = examples
            t.batch = len(examples)
            return PredictResult(servable.version, sig.name, servable.run(sig, {key: arr}))
        finally:
            servable.release()

    def metadata(self, t: Tracked, version: int | None, label: str | None):
        """(version, SignatureDefMap) of the resolved version."""
        servable = self.manager.acquire(t.model, version, label)
        try:
            t.version = servable.version
            return servable.version, servable.signature_def_map
        finally:
            servable.release()

    def status(self, t: Tracked, version: int | None, label: str | None) -> list[VersionStatus]:
        statuses = self.manager.status(t.model, version, label)
        if version is not None or label:
            t.version = statuses[0].version
        return statuses


__all__ = ["PredictResult", "RequestHandler", "ServingError", "Tracked"]
