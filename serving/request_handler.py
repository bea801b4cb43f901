"""What every request does whatever its protocol: time and count it, log it, and lease the
model version it asks for.

Front ends are linear: decode the wire format, ``with handler.track(...) as t, handler.lease(
t, ...) as servable:`` run :mod:`serving.inference`, encode the answer. Model calls run on
the caller's thread (a gRPC worker or a REST pool thread); there is no global lock, TF
releases the GIL while it computes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from serving.errors import ServingError, from_exception
from serving.inference import RunOptions
from serving.metrics import RequestLog, ServerMetrics
from serving.model_manager import ModelManager, VersionStatus
from serving.servable import Servable


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


class RequestHandler:
    def __init__(
        self,
        manager: ModelManager,
        metrics: ServerMetrics,
        request_log: RequestLog,
        run_options: RunOptions | None = None,
    ) -> None:
        self.manager = manager
        self.metrics = metrics
        self.request_log = request_log
        self.run_options = run_options or RunOptions()

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

    @contextmanager
    def lease(self, t: Tracked, version: int | None, label: str | None) -> Iterator[Servable]:
        """The model version the request resolves to, held until the block ends."""
        servable = self.manager.acquire(t.model, version, label)
        t.version = servable.version
        try:
            yield servable
        finally:
            servable.release()

    def status(self, t: Tracked, version: int | None, label: str | None) -> list[VersionStatus]:
        statuses = self.manager.status(t.model, version, label)
        if version is not None or label:
            t.version = statuses[0].version
        return statuses


__all__ = ["RequestHandler", "ServingError", "Tracked"]
