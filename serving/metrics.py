"""Prometheus metrics and structured request logs, one set per server instance.

Each :class:`ServerMetrics` owns a ``CollectorRegistry`` so several servers can run in one
process (tests, the rollout demo) without clashing. Labels: ``model``, ``version``, ``api``
(predict | classify | metadata | status), ``protocol`` (grpc | rest) and, on counters, the
TF Serving status ``code``. Version gauges are refreshed from the manager at scrape time.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model", "version", "api", "protocol"]
        self.requests = Counter("model_server_requests", "Requests by outcome",
                                labels + ["code"], registry=self.registry)
        self.errors = Counter("model_server_request_errors", "Requests that did not return OK",
                              labels + ["code"], registry=self.registry)
        self.latency = Histogram("model_server_request_latency_seconds",
                                 "Request latency (decode, run, encode)", labels,
                                 buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("model_server_model_call_batch_size",
                                    "Rows per model call (merged calls with batching on)",
                                    ["model", "version"], buckets=_BATCH_BUCKETS,
                                    registry=self.registry)
        self.versions = Gauge("model_server_model_versions_available",
                              "Model versions loaded and AVAILABLE", ["model"],
                              registry=self.registry)
        self.models = Gauge("model_server_models_available",
                            "Models with at least one AVAILABLE version", registry=self.registry)

    def observe(self, *, model: str, version: str, api: str, protocol: str, code: str,
                seconds: float) -> None:
        self.requests.labels(model, version, api, protocol, code).inc()
        if code != "OK":
            self.errors.labels(model, version, api, protocol, code).inc()
        self.latency.labels(model, version, api, protocol).observe(seconds)

    def observe_batch(self, model: str, version: int, rows: int) -> None:
        self.batch_rows.labels(model, str(version)).observe(rows)

    def refresh(self, available: dict[str, list[int]]) -> None:
        for model, versions in available.items():
            self.versions.labels(model).set(len(versions))
        self.models.set(sum(1 for v in available.values() if v))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class RequestLog:
    """One JSON line per request (``--enable_request_logging``); off when ``stream`` is None."""

    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def from_flag(cls, enabled: bool | TextIO) -> RequestLog:
        if enabled is True:
            return cls(sys.stderr)
        return cls(enabled or None)

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def write(self, **fields) -> None:
        if self._stream is None:
            return
        line = json.dumps({"ts": round(time.time(), 6), **fields}, separators=(",", ":"))
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()
