"""Prometheus metrics and structured request logs, one set per server instance.

Two sets of metric names share the ``/monitoring/prometheus/metrics`` page:

* this server's own ``model_server_*`` names (``model``, ``version``, ``api`` = predict |
  classify | regress | multi_inference | metadata | status, ``protocol`` = grpc | rest and,
  on counters, the status ``code``): they carry the version, which TF Serving's do not, and
  the rollout and its tests read them;
* TF Serving's own ``:tensorflow:serving:request_count`` and
  ``:tensorflow:serving:request_latency``, recorded where and how TF Serving 2.16 records
  them, so dashboards and alerts written for production TF Serving work against this
  server unchanged (:class:`TFServingMetrics`).

Each :class:`ServerMetrics` owns a ``CollectorRegistry`` so several servers can run in one
process (tests, the rollout demo) without clashing. Version gauges are refreshed from the
manager at scrape time.
"""

from __future__ import annotations

import bisect
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

# TF Serving's names: tensorflow_serving/servables/tensorflow/util.cc defines the metrics
# "/tensorflow/serving/request_count" and "/tensorflow/serving/request_latency", and
# util/prometheus_exporter.cc turns every character outside [a-zA-Z0-9_] into ':'.
TF_REQUEST_COUNT = ":tensorflow:serving:request_count"
TF_REQUEST_LATENCY = ":tensorflow:serving:request_latency"


def exponential_buckets(scale: float, growth_factor: float, count: int) -> tuple[float, ...]:
    """TensorFlow's ``monitoring::Buckets::Exponential``: the same repeated multiplication as
    the C++ loop, so the doubles (and the printed ``le`` values) are TF Serving's own."""
    limits = []
    bound = float(scale)
    for _ in range(count):
        limits.append(bound)
        bound *= growth_factor
    return tuple(limits)


# request_latency's buckets in util.cc: "Scale of 10, power of 1.8 with bucket count 33
# (~20 minutes)", in microseconds; TensorFlow adds a last bucket up to DBL_MAX (+Inf).
TF_LATENCY_LIMITS_US = exponential_buckets(10, 1.8, 33)

# Which requests TF Serving 2.16 records, and under which API label:
# * gRPC: only PredictionServiceImpl::Predict, Classify and Regress call
#   RecordModelRequestCount (every outcome) and RecordRequestLatency (API "Predict",
#   "Classify", "Regress", entrypoint "GRPC", OK only); MultiInference, GetModelMetadata and
#   the ModelService record nothing.
# * REST: http_server.cc ProcessRequest records every request it handles, whatever the
#   route or outcome; its latency (entrypoint "REST", HTTP 200 only) carries API = the verb
#   the URL regex captured: "predict", "classify" or "regress" as written in the URL, and ""
#   for GET status / metadata (that regex captures no verb). An empty label value is the same
#   as no label to Prometheus.
_GRPC_API = {"predict": "Predict", "classify": "Classify", "regress": "Regress"}
_REST_VERBS = frozenset({"predict", "classify", "regress"})


def tf_serving_api(protocol: str, api: str) -> tuple[str, str] | None:
    """TF Serving's (API, entrypoint) labels for one of our requests; None when TF Serving
    records nothing for such a request (gRPC metadata, status, multi-inference, reload)."""
    if protocol == "grpc":
        name = _GRPC_API.get(api)
        return None if name is None else (name, "GRPC")
    if protocol == "rest":
        return (api if api in _REST_VERBS else "", "REST")
    return None


@dataclass
class _LatencyCell:
    """One Sampler cell: counts per bucket (33 limits + the DBL_MAX bucket) and the sum."""

    buckets: list[int] = field(default_factory=lambda: [0] * (len(TF_LATENCY_LIMITS_US) + 1))
    total_us: int = 0


class TFServingMetrics:
    """``:tensorflow:serving:request_count{model_name,status}`` and
    ``:tensorflow:serving:request_latency{model_name,API,entrypoint}`` (microseconds,
    successful requests only), written the way TF Serving's PrometheusExporter writes them.

    Why not prometheus_client's Counter: it always exposes ``<name>_total`` and types the
    family as ``<name>_total``, while TF Serving exposes the counter as
    ``# TYPE :tensorflow:serving:request_count counter`` with samples of that exact name
    (no ``_total``, no ``# HELP``). Queries written for TF Serving select that exact name, so
    this class renders those lines itself.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str, str], _LatencyCell] = {}

    def record(
        self, *, model_name: str, api: str, entrypoint: str, status: str, microseconds: int
    ) -> None:
        """One finished request: counted whatever its status, timed only when OK (as
        RecordModelRequestCount / RecordRequestLatency are called by TF Serving)."""
        with self._lock:
            key = (model_name, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            if status != "OK":
                return
            cell = self._latency.setdefault((model_name, api, entrypoint), _LatencyCell())
            # TensorFlow's Histogram::Add: bucket = upper_bound(limits, value), so a value
            # equal to a limit falls in the next bucket.
            cell.buckets[bisect.bisect_right(TF_LATENCY_LIMITS_US, microseconds)] += 1
            cell.total_us += microseconds

    def exposition(self) -> str:
        """The text TF Serving's exporter prints for these two metrics (families sorted by
        name as its descriptor map is; series sorted for a stable page)."""
        with self._lock:
            counts = sorted(self._counts.items())
            latency = sorted((k, list(c.buckets), c.total_us) for k, c in self._latency.items())
        lines = [f"# TYPE {TF_REQUEST_COUNT} counter"]
        for (model_name, status), n in counts:
            lines.append(
                f"{TF_REQUEST_COUNT}{{{_labels(model_name=model_name, status=status)}}} {n}"
            )
        lines.append(f"# TYPE {TF_REQUEST_LATENCY} histogram")
        for (model_name, api, entrypoint), buckets, total_us in latency:
            labels = _labels(model_name=model_name, API=api, entrypoint=entrypoint)
            cumulative = 0
            for i, n in enumerate(buckets):
                cumulative += n
                # absl::StrCat(double): six significant digits, like C's %g.
                le = (
                    format(TF_LATENCY_LIMITS_US[i], ".6g")
                    if i < len(TF_LATENCY_LIMITS_US)
                    else "+Inf"
                )
                lines.append(f'{TF_REQUEST_LATENCY}_bucket{{{labels},le="{le}"}} {cumulative}')
            # TF Serving prints the sum with six digits too; the exact integer keeps
            # rate(_sum) meaningful once the total passes 10^6 us.
            lines.append(f"{TF_REQUEST_LATENCY}_sum{{{labels}}} {total_us}")
            lines.append(f"{TF_REQUEST_LATENCY}_count{{{labels}}} {cumulative}")
        return "\n".join(lines) + "\n"


def _labels(**labels: str) -> str:
    """``name="value"`` pairs in the given order, values escaped for the text format."""
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# One request label set's children: requests, errors (None for OK), latency, and TF
# Serving's (API, entrypoint) labels (None when TF Serving records nothing for it).
_Series = tuple[Any, Any, Any, "tuple[str, str] | None"]


class ServerMetrics:
    """Everything the server counts; ``observe`` is called once per finished request."""

    def __init__(self) -> None:
        self.tf_serving = TFServingMetrics()
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model", "version", "api", "protocol"]
        self.requests = Counter(
            "model_server_requests",
            "Requests by outcome",
            labels + ["code"],
            registry=self.registry,
        )
        self.errors = Counter(
            "model_server_request_errors",
            "Requests that did not return OK",
            labels + ["code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "model_server_request_latency_seconds",
            "Request latency (decode, run, encode)",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "model_server_model_call_batch_size",
            "Rows per model call (merged calls with batching on)",
            ["model", "version"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.versions = Gauge(
            "model_server_model_versions_available",
            "Model versions loaded and AVAILABLE",
            ["model"],
            registry=self.registry,
        )
        self.models = Gauge(
            "model_server_models_available",
            "Models with at least one AVAILABLE version",
            registry=self.registry,
        )
        self._series: dict[tuple[str, str, str, str, str], _Series] = {}

    def observe(
        self, *, model: str, version: str, api: str, protocol: str, code: str, seconds: float
    ) -> None:
        series = self._series.get((model, version, api, protocol, code))
        if series is None:
            series = self._new_series(model, version, api, protocol, code)
        requests, errors, latency, tf_labels = series
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)
        if tf_labels is not None:
            self.tf_serving.record(
                model_name=model,
                api=tf_labels[0],
                entrypoint=tf_labels[1],
                status=code,
                microseconds=int(seconds * 1_000_000),
            )

    def _new_series(self, model: str, version: str, api: str, protocol: str, code: str) -> _Series:
        """The children one label set records into, looked up once: ``labels()`` checks and
        locks on every call, which made up most of :meth:`observe`'s cost per request."""
        series = (
            self.requests.labels(model, version, api, protocol, code),
            self.errors.labels(model, version, api, protocol, code) if code != "OK" else None,
            self.latency.labels(model, version, api, protocol),
            tf_serving_api(protocol, api),
        )
        # Bounded as the registry's own children are: one entry per series it exposes.
        self._series[(model, version, api, protocol, code)] = series
        return series

    def observe_batch(self, model: str, version: int, rows: int) -> None:
        self.batch_rows.labels(model, str(version)).observe(rows)

    def refresh(self, available: dict[str, list[int]]) -> None:
        for model, versions in available.items():
            self.versions.labels(model).set(len(versions))
        self.models.set(sum(1 for v in available.values() if v))

    def exposition(self) -> bytes:
        return generate_latest(self.registry) + self.tf_serving.exposition().encode()


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
