"""Per-version live metrics of the router (Prometheus). TF Serving's own metrics carry no
version label, so these are what the canary analysis compares.

Every router instance has its own registry, so several routers (tests, demo) can live in
one process without clashing.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
LABELS = ("model", "version", "label")
# Requests are counted per protocol too, with the model server's names for them: "rest" and
# "grpc" (TF Serving's API), "rest-oip" and "grpc-oip" (the Open Inference Protocol, /v2).
REQUEST_LABELS = (*LABELS, "protocol")

REQUESTS = "router_requests_total"
ERRORS = "router_request_errors_total"
LATENCY = "router_request_latency_seconds"
PREDICTED = "router_predicted_class_total"
FEEDBACK = "router_feedback_total"
WEIGHT = "router_canary_weight_percent"
STATE_UPDATED = "router_rollout_state_updated_timestamp_seconds"
DRIFT = "router_input_drift_distance"
DRIFT_ALERT = "router_input_drift_alert"
DRIFT_SAMPLED = "router_drift_sampled_images_total"


class RouterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            REQUESTS.removesuffix("_total"),
            "Predict/infer requests by served version, label and protocol",
            REQUEST_LABELS,
            registry=r,
        )
        self.errors = Counter(
            ERRORS.removesuffix("_total"),
            "Failed predict/infer requests (non-2xx / non-OK)",
            (*REQUEST_LABELS, "code"),
            registry=r,
        )
        self.latency = Histogram(
            LATENCY,
            "Predict/infer latency through the router",
            REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.predicted = Counter(
            PREDICTED.removesuffix("_total"),
            "Predicted classes (one per instance)",
            (*REQUEST_LABELS, "class"),
            registry=r,
        )
        self.feedback = Counter(
            FEEDBACK.removesuffix("_total"),
            "Labelled feedback on served predictions",
            (*LABELS, "outcome"),
            registry=r,
        )
        self.weight = Gauge(
            WEIGHT, "Share of un-pinned requests routed to canary", ("model",), registry=r
        )
        self.state_updated = Gauge(
            STATE_UPDATED,
            "Unix time the rollout state file was last written (updated_at); "
            "the analysis loop writes it every window",
            ("model",),
            registry=r,
        )
        self.drift = Gauge(
            DRIFT, "JS distance of sampled request pixels vs training stats", ("model",), registry=r
        )
        self.drift_alert = Gauge(
            DRIFT_ALERT, "1 while sampled inputs count as drifted", ("model",), registry=r
        )
        self.drift_sampled = Counter(
            DRIFT_SAMPLED.removesuffix("_total"),
            "Request images added to the drift sample",
            ("model",),
            registry=r,
        )

    def observe(
        self,
        model: str,
        version: int | None,
        label: str,
        seconds: float,
        ok: bool,
        code: str,
        classes: list[int],
        protocol: str = "rest",
    ) -> None:
        v = str(version) if version is not None else "unknown"
        self.requests.labels(model, v, label, protocol).inc()
        self.latency.labels(model, v, label, protocol).observe(seconds)
        if not ok:
            self.errors.labels(model, v, label, protocol, code).inc()
        for c in classes:
            self.predicted.labels(model, v, label, protocol, str(c)).inc()

    def set_rollout_state(self, model: str, weight: int, updated_at: float | None) -> None:
        """The rollout state the router routes by, so the CanaryRolloutStuck alert can judge
        the analysis loop without depending on traffic; no timestamp before any write."""
        self.weight.labels(model).set(weight)
        if updated_at is None:
            try:
                self.state_updated.remove(model)
            except KeyError:
                pass
        else:
            self.state_updated.labels(model).set(updated_at)

    def render(self) -> bytes:
        return generate_latest(self.registry)
