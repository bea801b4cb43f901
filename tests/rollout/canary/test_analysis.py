from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.analysis import VersionStats
from rollout.canary.router_metrics import RouterMetrics
from rollout.policy import load_policy

MODEL = configs.MODEL_NAME
POLICY = replace(
    load_policy().analysis,
    min_requests=50,
    min_latency_requests=50,
    max_error_rate=0.05,
    max_error_rate_increase=0.02,
    max_p99_latency_ratio=2.0,
    min_p99_latency_ms=100,
    max_prediction_divergence=0.2,
    min_feedback=20,
    max_accuracy_drop=0.1,
    max_top_class_share=0.6,
)


def traffic(
    metrics: RouterMetrics,
    label: str,
    version: int,
    n: int,
    classes=range(10),
    latency: float = 0.02,
    errors: int = 0,
) -> None:
    classes = list(classes)
    for i in range(n):
        failed = i < errors
        metrics.observe(
            MODEL,
            version,
            label,
            latency,
            not failed,
            "500" if failed else "200",
            [] if failed else [classes[i % len(classes)]],
        )


def window(metrics: RouterMetrics, before: str | None = None):
    now = analysis.parse_metrics(metrics.render().decode())
    then = analysis.parse_metrics(before) if before else {}
    canary = analysis.stats_for(now, rollout_settings.CANARY_LABEL, 2) - analysis.stats_for(
        then, rollout_settings.CANARY_LABEL, 2
    )
    stable = analysis.stats_for(now, rollout_settings.STABLE_LABEL, 1)
    return canary, stable


def test_parse_and_diff_give_the_window_counts():
    m = RouterMetrics()
    traffic(m, rollout_settings.CANARY_LABEL, 2, 30, errors=3)
    before = m.render().decode()
    traffic(m, rollout_settings.CANARY_LABEL, 2, 70, classes=[4], errors=7)
    canary, _ = window(m, before)
    assert (canary.requests, canary.errors) == (70, 7)
    assert canary.classes[4] == 63 and sum(canary.classes.values()) == 63
    assert canary.error_rate == pytest.approx(0.1)


def test_p99_interpolates_inside_the_bucket_like_prometheus():
    stats = VersionStats(latency_buckets={0.1: 50.0, 0.25: 100.0, float("inf"): 100.0})
    # rank 99 of 100 lies in (0.1, 0.25]: 0.1 + 0.15 * 49 / 50
    assert stats.latency_quantile(0.99) == pytest.approx(0.247)
    assert VersionStats().latency_quantile(0.99) is None


def test_healthy_canary_steps_then_promotes_at_the_last_step():
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100)
    canary, stable = window(m)
    assert analysis.analyze(canary, stable, 10, 50, POLICY).action == analysis.STEP
    verdict = analysis.analyze(canary, stable, 100, None, POLICY)
    assert verdict.action == analysis.PROMOTE
    assert verdict.metrics["canary"]["requests"] == 100
    assert verdict.metrics["prediction_divergence"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    "canary_traffic, reason",
    [
        ({"errors": 100}, "error rate 100.0%"),
        ({"classes": [0]}, "predicted-class divergence"),
        ({"latency": 0.9}, "p99 latency"),
    ],
)
def test_broken_canaries_are_rolled_back_with_the_reason(canary_traffic, reason):
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100, **canary_traffic)
    canary, stable = window(m)
    verdict = analysis.analyze(canary, stable, 10, 50, POLICY)
    assert verdict.action == analysis.ROLLBACK
    assert reason in verdict.reason
    # an early look inside the window already rolls back ...
    assert analysis.analyze(canary, stable, 10, 50, POLICY, final=False).action == "rollback"


def test_too_few_requests_wait_and_an_early_look_never_promotes():
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 10, errors=10)
    canary, stable = window(m)
    verdict = analysis.analyze(canary, stable, 10, 50, POLICY)
    assert verdict.action == analysis.WAIT and "only 10 canary requests" in verdict.reason
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100)
    canary, stable = window(m)
    assert analysis.analyze(canary, stable, 100, None, POLICY, final=False).action == "wait"


def test_errors_shared_with_stable_are_not_blamed_on_the_canary():
    """Bad client requests fail on both versions: no rollback for that."""
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400, errors=40)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100, errors=10)
    canary, stable = window(m)
    assert analysis.analyze(canary, stable, 10, 50, POLICY).action == analysis.STEP


def test_accuracy_on_labelled_feedback():
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400)
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100)
    m.feedback.labels(MODEL, "1", rollout_settings.STABLE_LABEL, "correct").inc(40)
    m.feedback.labels(MODEL, "1", rollout_settings.STABLE_LABEL, "wrong").inc(60)
    m.feedback.labels(MODEL, "2", rollout_settings.CANARY_LABEL, "correct").inc(5)
    m.feedback.labels(MODEL, "2", rollout_settings.CANARY_LABEL, "wrong").inc(45)
    canary, stable = window(m)
    verdict = analysis.analyze(canary, stable, 10, 50, POLICY)
    assert verdict.action == analysis.ROLLBACK and "accuracy 10.0%" in verdict.reason
    assert verdict.metrics["stable"]["accuracy"] == pytest.approx(0.4)


def test_a_one_class_canary_counts_as_collapsed_even_when_models_disagree_anyway():
    """Weak models disagree a lot (high divergence); collapse is checked on its own."""
    loose = replace(POLICY, min_requests=50, max_prediction_divergence=1.0, max_top_class_share=0.6)
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400, classes=[1, 1, 5, 8, 8, 9])
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100, classes=[3])
    canary, stable = window(m)
    verdict = analysis.analyze(canary, stable, 10, 50, loose)
    assert verdict.action == analysis.ROLLBACK
    assert verdict.reason.startswith("collapsed predictions: 100% are one class")
    m = RouterMetrics()
    traffic(m, rollout_settings.STABLE_LABEL, 1, 400, classes=[1, 1, 5, 8, 8, 9])
    traffic(m, rollout_settings.CANARY_LABEL, 2, 100, classes=[0, 2, 3, 3, 6, 7])
    canary, stable = window(m)
    assert analysis.analyze(canary, stable, 10, 50, loose).action == analysis.STEP


def test_the_collapse_check_is_relative_to_the_class_count():
    """The policy's share (set for CIFAR-10's ten classes, uniform 10%) keeps its place
    between uniform and total collapse: 65% on one class is a collapse among ten classes,
    not among three (uniform 33%), where it takes more than 70%."""
    assert analysis.collapse_threshold(0.6, 10) == 0.6
    assert analysis.collapse_threshold(0.6, 3) == pytest.approx(1 / 3 + 0.5 / 0.9 * 2 / 3)
    assert analysis.collapse_threshold(0.6, 2) == pytest.approx(0.5 + 0.5 / 0.9 * 0.5)
    loose = replace(POLICY, min_requests=50, max_prediction_divergence=1.0, max_top_class_share=0.6)

    def verdict(num_classes: int, canary_classes: list[int]):
        m = RouterMetrics()
        traffic(m, rollout_settings.STABLE_LABEL, 1, 300, classes=[0, 1, 2])
        traffic(m, rollout_settings.CANARY_LABEL, 2, 100, classes=canary_classes)
        canary, stable = window(m)
        return analysis.analyze(canary, stable, 10, 50, loose, num_classes=num_classes)

    mostly_zero = [0] * 13 + [1] * 4 + [2] * 3  # 65% class 0
    assert verdict(3, mostly_zero).action == analysis.STEP
    tenfold = verdict(10, mostly_zero)
    assert tenfold.action == analysis.ROLLBACK
    assert "65% are one class (> 60% for 10 classes" in tenfold.reason
    three = verdict(3, [0] * 15 + [1] * 3 + [2] * 2)  # 75%
    assert three.action == analysis.ROLLBACK and "(> 70% for 3 classes" in three.reason
