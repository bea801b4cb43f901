"""Drift detection: fires on shifted inputs (inverted, darkened), quiet on held-back images."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import requests
from tensorflow_metadata.proto.v0 import statistics_pb2

from models import features
from rollout import atomic_io
from rollout import settings as rollout_settings
from rollout.drift import alerts
from rollout.drift.monitor import (
    DriftMonitor,
    DriftReferenceError,
    find_training_stats,
    load_reference,
)
from rollout.policy import load_policy
from rollout.state import StatePaths
from serving import defaults as serving_defaults
from tests.support.waiting import wait_until
from tests.system_deps import shared_cifar

POLICY = load_policy().drift


def write_stats(path: Path, images: np.ndarray) -> Path:
    """A TFDV statistics file for the transformed ``image`` feature, binned the way TFDV's
    standard histogram is (10 equal-width buckets over [min, max])."""
    pixels = images.astype(np.float32).ravel() / 255.0
    counts, edges = np.histogram(pixels, bins=10, range=(0.0, 1.0))
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    feature = stats.datasets.add(num_examples=len(images)).features.add()
    feature.path.step.append(features.TRANSFORMED_IMAGE_KEY)
    histogram = feature.num_stats.histograms.add(type=statistics_pb2.Histogram.STANDARD)
    for low, high, n in zip(edges[:-1], edges[1:], counts, strict=True):
        histogram.buckets.add(low_value=low, high_value=high, sample_count=float(n))
    path.write_bytes(stats.SerializeToString())
    return path


def readings(reference, images: np.ndarray, windows: int = 5, seed: int = 0) -> list[float]:
    """Drift distance over several random windows of ``images``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(windows):
        monitor = DriftMonitor(reference, POLICY)
        pick = images[rng.choice(len(images), POLICY.window_images, replace=False)]
        monitor.add(pick)
        out.append(monitor.check().distance)
    return out


SHIFTS = {
    "inverted": lambda x: 255 - x,
    "darkened": lambda x: (x * 0.5).astype(np.uint8),
}


@pytest.fixture(scope="module")
def train_reference(tmp_path_factory):
    train = shared_cifar("data_batch_1")
    return load_reference(
        write_stats(tmp_path_factory.mktemp("stats") / "FeatureStats.pb", train.images)
    )


def test_held_back_test_images_stay_below_the_threshold(train_reference):
    test = shared_cifar("test")
    assert max(readings(train_reference, test.images)) < POLICY.threshold


@pytest.mark.parametrize("shift", sorted(SHIFTS))
def test_shifted_inputs_exceed_the_threshold(train_reference, shift):
    test = shared_cifar("test")
    assert min(readings(train_reference, SHIFTS[shift](test.images))) > POLICY.threshold


@pytest.mark.slow
def test_drift_against_the_pushed_models_own_reference(first_pipeline_run, tmp_path):
    """The references the router uses in production: Transform's statistics when the
    pipeline records them (it runs Transform with disable_statistics), else the drift
    reference that cifar10-release builds by running the pushed model on the test split."""
    import shutil

    from rollout.canary.manager import RolloutManager
    from rollout.canary.monitoring import drift_monitor_for
    from rollout.drift.reference import build_for_version

    pushed = first_pipeline_run.versions()[0]
    version = int(pushed.name)
    manager = RolloutManager(tmp_path)
    shutil.copytree(pushed, manager.model_dir / pushed.name)
    manager.init(version)
    test = shared_cifar("test")
    build_for_version(manager.paths, manager.model_dir, version, test.images, "test split")
    monitor = drift_monitor_for(manager)
    assert monitor.signals is not None and monitor.signals.output is not None
    quiet = monitor.add(shared_cifar("data_batch_2").images[:300])
    assert quiet is not None and not quiet.drifted, quiet.describe()
    for shift in SHIFTS.values():
        monitor = drift_monitor_for(manager)
        reading = monitor.add(shift(test.images[:300]))
        assert reading.drifted, reading.describe()


def test_alerts_respect_min_images_cooldown_and_go_to_the_alert_log(train_reference, tmp_path):
    test = shared_cifar("test")
    paths = StatePaths(tmp_path)
    policy = replace(POLICY, on_drift="retrain", cooldown_seconds=60)
    now = [0.0]
    fired = []

    def on_alert(reading):
        fired.append(reading)
        alerts.record_drift_alert(paths, reading, policy, train_reference.source)

    monitor = DriftMonitor(train_reference, policy, on_alert=on_alert, clock=lambda: now[0])
    inverted = 255 - test.images
    assert monitor.add(inverted[: policy.min_images - 1]) is None  # not enough images yet
    assert monitor.add(inverted[policy.min_images : policy.min_images + 50]).alert
    monitor.add(inverted[300:400])  # still drifting, inside the cooldown: no second alert
    assert len(fired) == 1
    now[0] = 61.0
    monitor.add(inverted[400:450])
    assert len(fired) == 2
    logged = atomic_io.read_jsonl(paths.alerts)
    assert [r["action"] for r in logged] == ["drift_alert", "drift_alert"]
    assert logged[0]["metrics"]["distance"] > policy.threshold
    request = alerts.pending_retrain_request(paths)
    assert request is not None and request["id"] == logged[0]["id"]  # one pending request
    history = atomic_io.read_jsonl(paths.history)
    assert [r["action"] for r in history] == ["retrain_requested"]


def test_alert_mode_records_no_retrain_request(train_reference, tmp_path):
    test = shared_cifar("test")
    paths = StatePaths(tmp_path)
    monitor = DriftMonitor(
        train_reference,
        POLICY,
        on_alert=lambda r: alerts.record_drift_alert(paths, r, POLICY, "ref"),
    )
    monitor.add((test.images[:300] * 0.5).astype(np.uint8))
    assert paths.alerts.exists() and alerts.pending_retrain_request(paths) is None


def test_missing_statistics_are_a_clear_error(tmp_path):
    with pytest.raises(DriftReferenceError, match="run the pipeline first"):
        find_training_stats(tmp_path)
    with pytest.raises(DriftReferenceError, match="cannot read"):
        load_reference(tmp_path / "nope.pb")


def test_the_router_samples_request_images_into_the_drift_gauge(train_reference, tmp_path):
    from rollout.canary.router import Router
    from rollout.canary.router_metrics import DRIFT, DRIFT_ALERT, DRIFT_SAMPLED
    from rollout.state import RolloutState, write_state
    from tests.rollout.fakes import FakeModelServer

    test = shared_cifar("test")
    policy = load_policy()
    policy = replace(policy, drift=replace(policy.drift, sample_rate=1.0))
    write_state(tmp_path / "state.json", RolloutState(stable=1))
    upstream = FakeModelServer({rollout_settings.STABLE_LABEL: 1}).start()
    monitor = DriftMonitor(train_reference, policy.drift)
    router = Router(
        upstream.rest_url,
        upstream.grpc_target,
        tmp_path / "state.json",
        policy,
        rest_port=0,
        grpc_port=0,
        drift_monitor=monitor,
    ).start()
    try:
        session = requests.Session()
        inverted = 255 - test.images
        for i in range(0, policy.drift.min_images + 25, 25):
            body = {"instances": [{"images": im.tolist()} for im in inverted[i : i + 25]]}
            assert (
                session.post(
                    f"{router.rest_url}/v1/models/cifar10:predict", json=body, timeout=10
                ).status_code
                == 200
            )
        sent = len(range(0, policy.drift.min_images + 25, 25)) * 25

        def drift_gauges() -> dict[str, float] | None:
            """The drift gauges once the sampler thread has taken every image."""
            text = session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=10).text
            values = {
                line.split("{")[0]: float(line.split()[-1])
                for line in text.splitlines()
                if line.startswith((DRIFT, DRIFT_ALERT, DRIFT_SAMPLED))
            }
            return values if values.get(DRIFT_SAMPLED) == sent else None

        values = wait_until(drift_gauges, f"{sent} sampled images")
    finally:
        router.stop()
        upstream.stop()
    assert values[DRIFT] > policy.drift.threshold
    assert values[DRIFT_ALERT] == 1.0
