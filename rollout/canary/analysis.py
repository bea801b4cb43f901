"""Canary analysis: compare canary and stable over a window of router metrics and decide.

Inputs are two scrapes of the router's Prometheus endpoint; their difference is what
happened in the window. The canary's window is checked against the policy's guard rails
(error rate, p99 latency, prediction-distribution divergence, collapse onto one class,
accuracy on labelled feedback); the stable side of the comparison is everything stable
served since the canary started (at the last weight step the canary takes all un-pinned
traffic, so a per-window stable sample could be empty).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from scipy.spatial.distance import jensenshannon

from pipeline import configs
from rollout.canary import router_metrics as rm
from rollout.policy import AnalysisPolicy

PROMOTE, STEP, ROLLBACK, WAIT = "promote", "step", "rollback", "wait"


@dataclass
class VersionStats:
    """Counters of one (label, version) pair; differences of two scrapes are windows."""

    requests: float = 0.0
    errors: float = 0.0
    latency_buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative
    classes: dict[int, float] = field(default_factory=dict)
    feedback_correct: float = 0.0
    feedback_total: float = 0.0

    def __sub__(self, other: VersionStats) -> VersionStats:
        """The counts of one analysis window: now minus the window's start (watch.py)."""
        return VersionStats(
            requests=self.requests - other.requests,
            errors=self.errors - other.errors,
            latency_buckets={
                le: n - other.latency_buckets.get(le, 0.0) for le, n in self.latency_buckets.items()
            },
            classes={c: n - other.classes.get(c, 0.0) for c, n in self.classes.items()},
            feedback_correct=self.feedback_correct - other.feedback_correct,
            feedback_total=self.feedback_total - other.feedback_total,
        )

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def latency_quantile(self, q: float) -> float | None:
        """Seconds, interpolated inside the bucket like Prometheus' histogram_quantile."""
        if not self.latency_buckets:
            return None
        bounds = sorted(self.latency_buckets)
        total = self.latency_buckets[bounds[-1]]
        if total <= 0:
            return None
        rank = q * total
        lower_bound, lower_count = 0.0, 0.0
        for le in bounds:
            count = self.latency_buckets[le]
            if count >= rank:
                if math.isinf(le):
                    return lower_bound
                if count == lower_count:
                    return le
                return lower_bound + (le - lower_bound) * (rank - lower_count) / (
                    count - lower_count
                )
            lower_bound, lower_count = le, count
        return lower_bound

    @property
    def accuracy(self) -> float | None:
        return self.feedback_correct / self.feedback_total if self.feedback_total else None

    def class_distribution(self, num_classes: int | None = None) -> np.ndarray:
        """Shares of the ``num_classes`` class ids (default: up to the highest id seen)."""
        k = num_classes if num_classes else max((int(c) + 1 for c in self.classes), default=0)
        counts = np.array([self.classes.get(c, 0.0) for c in range(k)])
        return counts / counts.sum() if counts.sum() > 0 else counts

    def top_class_share(self, num_classes: int | None = None) -> float | None:
        """Share of the most predicted class (1.0 = a collapsed, one-class model)."""
        distribution = self.class_distribution(num_classes)
        return float(distribution.max()) if distribution.sum() > 0 else None

    def summary(self) -> dict[str, Any]:
        p99 = self.latency_quantile(0.99)
        return {
            "requests": int(self.requests),
            "errors": int(self.errors),
            "error_rate": round(self.error_rate, 4),
            "p99_latency_ms": None if p99 is None else round(p99 * 1000, 1),
            "predicted_classes": {str(c): int(n) for c, n in sorted(self.classes.items()) if n},
            "accuracy": None if self.accuracy is None else round(self.accuracy, 4),
            "feedback": int(self.feedback_total),
        }


Snapshot = dict[tuple[str, str], VersionStats]  # (label, version) -> stats


def parse_metrics(text: str, model: str = configs.MODEL_NAME) -> Snapshot:
    """Per (label, version) counters from the router's Prometheus text."""
    snapshot: Snapshot = defaultdict(VersionStats)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("model") != model or "label" not in labels:
                continue
            stats = snapshot[(labels["label"], labels["version"])]
            if sample.name == rm.REQUESTS:
                stats.requests += sample.value
            elif sample.name == rm.ERRORS:
                stats.errors += sample.value
            elif sample.name == rm.LATENCY + "_bucket":
                le = float(labels["le"])
                stats.latency_buckets[le] = stats.latency_buckets.get(le, 0.0) + sample.value
            elif sample.name == rm.PREDICTED:
                c = int(labels["class"])
                stats.classes[c] = stats.classes.get(c, 0.0) + sample.value
            elif sample.name == rm.FEEDBACK:
                stats.feedback_total += sample.value
                if labels.get("outcome") == "correct":
                    stats.feedback_correct += sample.value
    return dict(snapshot)


def stats_for(snapshot: Snapshot, label: str, version: int | None) -> VersionStats:
    return snapshot.get((label, str(version)), VersionStats())


POLICY_CLASSES = 10  # rollout/policy.yaml's collapse share was set for CIFAR-10's classes


def collapse_threshold(policy_share: float, num_classes: int) -> float:
    """The policy's top-class share for ``num_classes`` classes: it is stated for ten
    (uniform 10%), so it keeps its place between uniform (1/K) and total collapse (100%):
    0.6 stays 0.6 for ten classes and is 0.70 for three, 0.78 for two, 0.56 for a hundred."""
    if num_classes == POLICY_CLASSES:
        return policy_share
    base = 1 / POLICY_CLASSES
    position = (policy_share - base) / (1 - base)
    return 1 / num_classes + position * (1 - 1 / num_classes)


def prediction_divergence(
    a: VersionStats, b: VersionStats, num_classes: int | None = None
) -> float | None:
    """Jensen-Shannon distance (base 2) of two predicted-class distributions."""
    if num_classes is None:
        num_classes = max(len(a.class_distribution()), len(b.class_distribution()))
    pa, pb = a.class_distribution(num_classes), b.class_distribution(num_classes)
    if pa.sum() == 0 or pb.sum() == 0:
        return None
    return float(jensenshannon(pa, pb, base=2))


@dataclass
class Verdict:
    action: str  # promote | step | rollback | wait
    reasons: list[str]
    metrics: dict[str, Any]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def failed_checks(
    canary: VersionStats,
    stable: VersionStats,
    policy: AnalysisPolicy,
    num_classes: int | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """Guard rails the canary breaks, and the numbers behind them. ``num_classes``: the
    served model's class count (default: the highest class id either side predicted)."""
    if num_classes is None:
        num_classes = max(len(canary.class_distribution()), len(stable.class_distribution()))
    failures = []
    if (
        canary.error_rate > policy.max_error_rate
        and canary.error_rate - stable.error_rate > policy.max_error_rate_increase
    ):
        failures.append(
            f"error rate {canary.error_rate:.1%} > {policy.max_error_rate:.1%} "
            f"(stable {stable.error_rate:.1%})"
        )
    c99, s99 = canary.latency_quantile(0.99), stable.latency_quantile(0.99)
    if (
        c99 is not None
        and s99 is not None
        and c99 * 1000 > policy.min_p99_latency_ms
        and canary.requests >= policy.min_latency_requests
        and c99 > s99 * policy.max_p99_latency_ratio
    ):
        failures.append(
            f"p99 latency {c99 * 1000:.0f} ms > {policy.max_p99_latency_ratio}x "
            f"stable {s99 * 1000:.0f} ms"
        )
    divergence = prediction_divergence(canary, stable, num_classes)
    if divergence is not None and divergence > policy.max_prediction_divergence:
        failures.append(
            f"predicted-class divergence {divergence:.3f} > {policy.max_prediction_divergence}"
        )
    top_c, top_s = canary.top_class_share(num_classes), stable.top_class_share(num_classes)
    collapse = collapse_threshold(policy.max_top_class_share, max(num_classes, 2))
    if top_c is not None and top_c > collapse and (top_s is None or top_c > top_s):
        failures.append(
            f"collapsed predictions: {top_c:.0%} are one class "
            f"(> {collapse:.0%} for {num_classes} classes; stable "
            f"{'n/a' if top_s is None else f'{top_s:.0%}'})"
        )
    ca, sa = canary.accuracy, stable.accuracy
    if (
        ca is not None
        and sa is not None
        and canary.feedback_total >= policy.min_feedback
        and stable.feedback_total >= policy.min_feedback
        and sa - ca > policy.max_accuracy_drop
    ):
        failures.append(f"accuracy {ca:.1%} is {sa - ca:.1%} below stable {sa:.1%}")
    numbers = {
        "canary": canary.summary(),
        "stable": stable.summary(),
        "prediction_divergence": None if divergence is None else round(divergence, 4),
    }
    return failures, numbers


def analyze(
    canary: VersionStats,
    stable: VersionStats,
    weight: int,
    next_weight: int | None,
    policy: AnalysisPolicy,
    final: bool = True,
    num_classes: int | None = None,
) -> Verdict:
    """The decision for one window of canary stats against the stable baseline.

    ``final=False`` is an early look inside a running window: it may roll back as soon as
    the guard rails fail on enough requests, but never steps or promotes.
    """
    failures, numbers = failed_checks(canary, stable, policy, num_classes)
    numbers["weight"] = weight
    enough = canary.requests >= policy.min_requests
    if failures and enough:
        return Verdict(ROLLBACK, failures, numbers)
    if not final:
        return Verdict(WAIT, ["window still open"], numbers)
    if not enough:
        return Verdict(
            WAIT,
            [f"only {int(canary.requests)} canary requests (< {policy.min_requests})"],
            numbers,
        )
    if next_weight is None:
        return Verdict(PROMOTE, [f"healthy at {weight}%: all checks passed"], numbers)
    return Verdict(STEP, [f"healthy at {weight}%: all checks passed, next {next_weight}%"], numbers)
