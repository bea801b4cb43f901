"""The rollout loop through the real model server (serving/) and the real router, with real
CIFAR-10 test images as traffic and tiny SavedModels with the production signatures."""

from __future__ import annotations

import time
from dataclasses import replace

import grpc
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from demos.loadgen import LoadGenerator
from models import features
from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.manager import RolloutManager
from rollout.canary.router import Router
from rollout.canary.watch import CanaryWatch, http_metrics
from rollout.policy import load_policy
from rollout.serving_client import wait_until_available, warm_up
from tests.rollout.conftest import install_version
from tests.support.waiting import wait_until
from tests.system_deps import require_shared_data, shared_cifar

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
WINDOW = 5.0


@pytest.fixture
def stack(tmp_path, tiny_models):
    """A fresh rollout per test (its own serving root, state and history; stable version 1),
    so each test proves its own ending whatever ran before it."""
    from serving.server import ModelServer

    require_shared_data()
    install_version(tmp_path, tiny_models["brightness"], 1)
    install_version(tmp_path, tiny_models["error"], 2)
    install_version(tmp_path, tiny_models["brightness"], 3)  # a retrained healthy model
    base = load_policy()
    policy = replace(
        base,
        weight_steps=(20, 50, 100),
        analysis=replace(base.analysis, window_seconds=WINDOW, min_requests=15, max_wait_windows=3),
    )
    manager = RolloutManager(tmp_path, policy)
    manager.init(1, actor="test")
    server = ModelServer(
        model_config_file=manager.config_path,
        grpc_port=0,
        rest_port=0,
        model_config_poll_seconds=0.5,
        file_system_poll_seconds=0.5,
        allow_version_labels_for_unavailable_models=True,
    ).start()
    router = Router(
        server.rest_url, server.grpc_target, manager.paths.state, policy, rest_port=0, grpc_port=0
    ).start()
    test = shared_cifar("test")
    load = LoadGenerator(
        router.rest_url, test.images, test.labels, rate_per_second=40, workers=4
    ).start()
    yield manager, server, router, load
    load.stop()
    router.stop()
    server.stop()


def canary_up(manager: RolloutManager, server, version: int) -> None:
    manager.start(version, weight=0, actor="test")
    assert wait_until_available(server.rest_url, version, timeout=60)
    warm_up(server.rest_url, version)
    manager.step(actor="test")


def test_a_failing_canary_is_rolled_back_within_one_window_and_stable_never_fails(stack):
    manager, server, router, load = stack
    canary_up(manager, server, 2)
    failed_before = load.view.failed[rollout_settings.STABLE_LABEL]
    watch = CanaryWatch(
        manager, http_metrics(router.rest_url), poll_seconds=0.5, say=lambda _: None
    )
    started = time.monotonic()
    verdict = watch.run_window()
    elapsed = time.monotonic() - started
    assert verdict.action == analysis.ROLLBACK
    # one window plus its last scrape and the state writes: generous for a loaded machine,
    # still well short of a second window
    assert elapsed < 2 * WINDOW
    assert "error rate 100.0%" in verdict.reason
    state = manager.state()
    assert (state.stable, state.canary, state.retired) == (1, None, [2])
    assert load.view.served[rollout_settings.CANARY_LABEL] > 0  # the canary did get traffic
    # once the router has re-read the state, clients are served by stable only, unharmed
    wait_until(lambda: router.split().canary is None, "the router to re-read the state")
    # A request routed to the canary just before the re-read may still be on its way back
    # (at most one per load worker): let stable answer 40 more before counting.
    settled = load.view.served[rollout_settings.STABLE_LABEL] + 40
    wait_until(
        lambda: load.view.served[rollout_settings.STABLE_LABEL] >= settled,
        "40 requests served by stable after the re-read",
    )
    served_stable = load.view.served[rollout_settings.STABLE_LABEL]
    served_canary = load.view.served[rollout_settings.CANARY_LABEL]
    wait_until(
        lambda: load.view.served[rollout_settings.STABLE_LABEL] >= served_stable + 40,
        "40 more requests served by stable",
    )
    assert load.view.served[rollout_settings.CANARY_LABEL] == served_canary
    assert load.view.failed[rollout_settings.STABLE_LABEL] == failed_before == 0
    # gRPC clients through the router now land on stable only
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(router.grpc_target)
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    request.model_spec.signature_name = features.SIGNATURE_IMAGES
    request.inputs[features.INPUT_IMAGES].CopyFrom(tf.make_tensor_proto(load.images[:2]))
    for key in ("a", "b", "c", "d"):
        response = stub.Predict(
            request, metadata=[(rollout_settings.CLIENT_KEY_HEADER, key)], timeout=30
        )
        assert response.model_spec.version.value == 1
    record = manager.history()[-1]
    assert record["action"] == "rollback" and record["actor"] == "canary-analysis"
    assert record["metrics"]["canary"]["errors"] >= 15
    assert record["metrics"]["stable"]["error_rate"] == 0.0


def test_a_good_canary_is_promoted_step_by_step(stack):
    manager, server, router, load = stack
    canary_up(manager, server, 3)
    watch = CanaryWatch(
        manager, http_metrics(router.rest_url), poll_seconds=0.5, say=lambda _: None
    )
    assert watch.run(max_windows=6) == analysis.PROMOTE
    assert manager.state().stable == 3
    decisions = [r for r in manager.history() if r["actor"] == "canary-analysis"]
    assert [(r["action"], r["metrics"]["weight"]) for r in decisions[-3:]] == [
        ("step", 20),
        ("step", 50),
        ("promote", 100),
    ]
    assert all(r["metrics"]["canary"]["error_rate"] == 0.0 for r in decisions[-3:])
    assert decisions[-1]["metrics"]["prediction_divergence"] < 0.3
    assert load.view.failed[rollout_settings.STABLE_LABEL] == 0
    assert load.view.served[rollout_settings.CANARY_LABEL] > 0
    assert [r["action"] for r in manager.history()] == [
        "init",
        "start",
        "step",
        "step",
        "step",
        "promote",
    ]
    assert manager.state().retired == [1]
