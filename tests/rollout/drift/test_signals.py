"""Drift signals (image statistics, model outputs): every benchmark shift of real CIFAR-10
images crosses the policy's derived threshold, held-back windows stay below it; the
monitor only compares outputs of the version its reference belongs to; the router feeds
served probabilities in."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import requests

from models import features
from models.dataset import CIFAR10_CLASS_NAMES
from rollout import settings as rollout_settings
from rollout.drift import shifts
from rollout.drift import signals as ds
from rollout.drift.monitor import DriftMonitor, PixelReference
from rollout.drift.payloads import probabilities_from_grpc, probabilities_from_rest
from rollout.policy import load_policy
from tests.support.waiting import wait_until
from tests.system_deps import shared_cifar

POLICY = load_policy().drift
WINDOW = POLICY.window_images


@pytest.fixture(scope="module")
def cifar():
    return shared_cifar("train"), shared_cifar("test")


def windows(n: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.choice(n, WINDOW, replace=False) for _ in range(count)]


def fake_model(labels: np.ndarray, seed: int) -> np.ndarray:
    """Probabilities of a ~67 %-accurate classifier: the true class gets a noisy boost."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1, (len(labels), 10))
    logits[np.arange(len(labels)), labels] += 2.0
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def test_the_policy_threshold_was_derived_not_left_at_zero():
    assert 3.0 < POLICY.score_threshold < 10.0  # bench/bench_drift.py --write-policy


def test_held_back_windows_stay_below_and_every_image_shift_crosses(cifar):
    train, test = cifar
    reference = ds.SignalReference.fit(ds.IMAGE_FEATURES, ds.image_features(test.images))
    rows = ds.image_features(train.images)
    null = [ds.window_score(reference, rows[w]).value for w in windows(len(rows), 40)]
    assert max(null) < POLICY.score_threshold
    for name in (*shifts.IMAGE_SHIFTS, "unlike_cifar"):
        shifted = ds.image_features(
            shifts.apply(name, train.images[:600], np.random.default_rng(1))
        )
        scores = [ds.window_score(reference, shifted[w]) for w in windows(600, 5)]
        weakest = min(scores, key=lambda s: s.value)
        assert weakest.value > POLICY.score_threshold, (name, weakest.describe())


def test_a_class_prior_shift_is_seen_in_the_outputs_not_in_the_pixels(cifar):
    train, test = cifar
    reference = ds.build_reference(test.images, fake_model(test.labels, 0), "test")
    outputs = ds.output_features(fake_model(train.labels, 1))
    images = ds.image_features(train.images)
    rng = np.random.default_rng(2)
    prior = [shifts.class_prior_window(train.labels, WINDOW, rng) for _ in range(10)]
    assert (
        min(ds.window_score(reference.output, outputs[w]).value for w in prior)
        > POLICY.score_threshold
    )
    assert (
        max(
            ds.window_score(reference.output, outputs[w]).value
            for w in windows(len(train.labels), 40)
        )
        < POLICY.score_threshold
    )
    # the motivation for the output signal: the image statistics barely move
    assert (
        np.median([ds.window_score(reference.image, images[w]).value for w in prior])
        < POLICY.score_threshold
    )


def test_class_mix_sees_a_shift_spread_over_several_classes():
    shares = np.full(10, 0.1)
    names = ds.output_feature_names([f"c{i}" for i in range(10)])
    reference = ds.SignalReference(names, np.r_[shares, shares, 0.5, 0.5], np.full(22, 0.3), 500)
    rng = np.random.default_rng(0)
    even = np.eye(10)[rng.choice(10, 300, p=shares)]
    spread = np.eye(10)[
        rng.choice(10, 300, p=[0.16, 0.16, 0.16, 0.16, 0.04, 0.04, 0.04, 0.04, 0.1, 0.1])
    ]
    assert ds.class_mix_z(reference, even) < 3
    assert ds.class_mix_z(reference, spread) > 5


def test_reference_round_trips_through_json(tmp_path):
    images = shifts.unlike_cifar(20)
    reference = ds.build_reference(images, fake_model(np.arange(20) % 10, 0), "x", 7)
    loaded = ds.DriftReference.load(reference.save(tmp_path / "ref.json"))
    assert loaded.version == 7 and loaded.source == "x"
    np.testing.assert_allclose(loaded.output.mean, reference.output.mean)
    np.testing.assert_allclose(loaded.image.std, reference.image.std)


def test_bad_image_shapes_are_a_clear_error():
    with pytest.raises(ValueError, match=r"expected images \[N, height, width, 1 or 3\]"):
        ds.image_features(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match=r"got shape \(2, 28, 28, 4\)"):
        ds.image_features(np.zeros((2, 28, 28, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown shift 'sepia'"):
        shifts.apply("sepia", np.zeros((1, 32, 32, 3), np.uint8))


def uniform_pixels() -> PixelReference:
    edges = np.linspace(0, 1, 11)
    return PixelReference(edges, np.full(10, 0.1), "uniform")


def monitor_with(version: int, signals_for=None) -> DriftMonitor:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (400, 32, 32, 3)).astype(np.uint8)
    reference = ds.build_reference(
        images, fake_model(np.arange(400) % 10, 0), "r", version, CIFAR10_CLASS_NAMES
    )
    policy = replace(POLICY, threshold=1.0)  # pixel histogram out of the way
    return DriftMonitor(uniform_pixels(), policy, signals=reference, signals_for=signals_for)


def test_outputs_of_another_version_are_not_compared():
    monitor = monitor_with(version=1)
    images = np.random.default_rng(1).integers(0, 256, (250, 32, 32, 3)).astype(np.uint8)
    collapsed = np.tile(np.eye(10)[3], (250, 1))  # every answer class 3
    reading = monitor.add(images, collapsed, version=2)  # a canary's answers
    assert reading.outputs == 0 and not reading.drifted
    reading = monitor.add(images, collapsed, version=1)
    assert reading.outputs == 250 and reading.drifted
    assert reading.score.feature in (
        "predicted_cat",
        "probability_cat",
        "confidence",
        "entropy",
        "class_mix",
    )
    assert reading.metrics()["score"] > POLICY.score_threshold
    assert "drift score" in reading.describe()


def test_a_promoted_version_brings_its_own_reference():
    newer = monitor_with(version=2).signals
    monitor = monitor_with(version=1, signals_for=lambda v: newer if v == 2 else None)
    images = np.random.default_rng(1).integers(0, 256, (250, 32, 32, 3)).astype(np.uint8)
    reading = monitor.add(images, fake_model(np.arange(250) % 10, 5), version=2)
    assert monitor.signals is newer and reading.outputs == 250 and not reading.drifted


def test_probabilities_are_read_from_rest_and_grpc_responses():
    from tensorflow_serving.apis import predict_pb2

    rows = [[0.1] * 10, [0.0] * 9 + [1.0]]
    np.testing.assert_allclose(
        probabilities_from_rest(
            {"predictions": [{"probabilities": r, "class_ids": 0} for r in rows]}
        ),
        rows,
    )
    np.testing.assert_allclose(probabilities_from_rest({"outputs": {"probabilities": rows}}), rows)
    assert probabilities_from_rest({"predictions": [{"class_ids": 1}]}) is None
    # Any class count (the served model's): two classes are read, one column or a flat
    # list are no probabilities.
    np.testing.assert_allclose(probabilities_from_rest({"predictions": [[0.5, 0.5]]}), [[0.5, 0.5]])
    assert probabilities_from_rest({"predictions": [[1.0], [1.0]]}) is None
    assert probabilities_from_rest({"predictions": [0.5, 0.5]}) is None
    response = predict_pb2.PredictResponse()
    tensor = response.outputs[features.OUTPUT_PROBABILITIES]
    tensor.dtype = 1  # DT_FLOAT
    tensor.tensor_shape.dim.add().size = 2
    tensor.tensor_shape.dim.add().size = 10
    tensor.float_val.extend(np.ravel(rows))
    np.testing.assert_allclose(probabilities_from_grpc(response), rows)
    assert probabilities_from_grpc(predict_pb2.PredictResponse()) is None


@pytest.mark.parametrize("reference_version, expect_outputs", [(1, True), (7, False)])
def test_the_router_feeds_served_probabilities_of_the_reference_version(
    tmp_path, reference_version, expect_outputs
):
    from rollout.canary.router import Router
    from rollout.state import RolloutState, write_state
    from tests.rollout.fakes import FakeModelServer

    monitor = monitor_with(version=reference_version)
    policy = load_policy()
    policy = replace(policy, drift=replace(monitor.policy, sample_rate=1.0))
    monitor.policy = policy.drift
    write_state(tmp_path / "state.json", RolloutState(stable=1))
    upstream = FakeModelServer({rollout_settings.STABLE_LABEL: 1}).start()  # always class 1
    router = Router(
        upstream.rest_url,
        upstream.grpc_target,
        tmp_path / "state.json",
        policy,
        rest_port=0,
        grpc_port=0,
        drift_monitor=monitor,
    ).start()
    images = np.random.default_rng(3).integers(0, 256, (25, 32, 32, 3)).tolist()
    try:
        session = requests.Session()
        for _ in range(10):
            assert (
                session.post(
                    f"{router.rest_url}/v1/models/cifar10:predict",
                    timeout=10,
                    json={"instances": [{"images": im} for im in images]},
                ).status_code
                == 200
            )
        # sampling runs on the router's drift thread: wait until it took all 10 requests
        wait_until(lambda: monitor.check().images == 250, "250 sampled images")
    finally:
        router.stop()
        upstream.stop()
    reading = monitor.check()
    assert reading.images == 250
    assert (reading.outputs == 250) is expect_outputs
    assert reading.drifted is expect_outputs  # every answer is class 1: collapsed outputs


def test_without_transform_statistics_the_monitor_uses_the_drift_reference(manager):
    """Transform runs with disable_statistics: the drift reference's own pixel histogram
    stands in, and without either the error says what is missing."""
    from rollout.canary.monitoring import drift_monitor_for
    from rollout.drift.monitor import DriftReferenceError

    with pytest.raises(DriftReferenceError, match="post_transform_stats"):
        drift_monitor_for(manager)
    manager.init(1)
    images = np.random.default_rng(0).integers(0, 256, (300, 32, 32, 3)).astype(np.uint8)
    ds.build_reference(images, fake_model(np.arange(300) % 10, 0), "r", 1).save(
        manager.paths.drift_reference(1)
    )
    monitor = drift_monitor_for(manager)
    assert monitor.signals.version == 1 and "pixel histogram of r" in monitor.reference.source
    assert monitor.add(images).distance < 0.01
    assert monitor.add(shifts.darkened(images)).drifted


def test_any_size_gray_or_colour_and_any_class_count():
    """A gray 40x24 dataset of three classes: features, shifts and the output reference work
    and name the model's classes; a gray image scores like its colour copy."""
    rng = np.random.default_rng(3)
    colour = rng.integers(0, 256, (60, 40, 24, 3)).astype(np.uint8)
    gray = shifts.grayscale(colour)[..., :1]
    rows = ds.image_features(gray)
    assert rows.shape == (60, len(ds.IMAGE_FEATURES)) and np.isfinite(rows).all()
    np.testing.assert_allclose(rows, ds.image_features(np.repeat(gray, 3, axis=3)), atol=1e-5)
    for name in shifts.SHIFT_NAMES:
        assert shifts.apply(name, gray, np.random.default_rng(0)).shape == gray.shape, name
    names = ("cat", "dog", "ship")
    probabilities = fake_model(np.arange(60) % 3, 0)[:, :3]
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    reference = ds.build_reference(gray, probabilities, "gray", 1, names)
    assert reference.output.names == ds.output_feature_names(names)
    assert ds.output_class_count(reference.output.names) == 3
    assert ds.output_class_count(reference.image.names) is None
    # Every window predicted as one class: the class mix sees it.
    collapsed = ds.output_features(np.tile([[0.9, 0.05, 0.05]], (60, 1)))
    assert ds.window_score(reference.output, collapsed).value > POLICY.score_threshold
    with pytest.raises(ValueError, match="2 class names for probabilities of 3 classes"):
        ds.build_reference(gray, probabilities, "gray", 1, names[:2])
