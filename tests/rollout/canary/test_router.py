"""The router against an in-test fake model server (REST and gRPC)."""

from __future__ import annotations

import math
import threading
import time

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.router import Router
from rollout.state import RolloutState, write_state
from serving import defaults as serving_defaults
from tests.support.waiting import wait_until

STABLE, CANARY = 1, 2
SERVED_LABEL_HEADER = rollout_settings.SERVED_LABEL_HEADER
BODY = {"instances": [{"images": np.zeros((32, 32, 3), np.uint8).tolist()}]}


def predict(
    router: Router,
    session: requests.Session,
    key: str | None = None,
    path: str = f"/v1/models/{configs.MODEL_NAME}:predict",
) -> requests.Response:
    headers = {rollout_settings.CLIENT_KEY_HEADER: key} if key else {}
    return session.post(router.rest_url + path, json=BODY, headers=headers, timeout=10)


def test_rest_split_matches_the_weight_and_metrics_count_each_version(router, upstream):
    session = requests.Session()
    n = 400
    served = [predict(router, session).headers[SERVED_LABEL_HEADER] for _ in range(n)]
    canary = served.count(rollout_settings.CANARY_LABEL)
    assert abs(canary - n * 0.2) <= 4 * math.sqrt(n * 0.2 * 0.8)
    # The upstream saw label paths, never the bare model path.
    assert sum(upstream.rest_paths.values()) == n
    assert upstream.rest_paths["/v1/models/cifar10/labels/canary:predict"] == canary
    snapshot = analysis.parse_metrics(
        session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH).text
    )
    c = analysis.stats_for(snapshot, rollout_settings.CANARY_LABEL, CANARY)
    s = analysis.stats_for(snapshot, rollout_settings.STABLE_LABEL, STABLE)
    assert (c.requests, s.requests) == (canary, n - canary)
    assert c.classes == {CANARY % 10: canary}  # the fake answers with its version as class
    assert c.latency_buckets[math.inf] == canary and c.errors == 0


def test_rest_client_keys_are_sticky(router):
    session = requests.Session()
    for key in ("alice", "bob", "carol", "dave", "erin"):
        labels = {predict(router, session, key).headers[SERVED_LABEL_HEADER] for _ in range(8)}
        assert len(labels) == 1


def test_pinned_versions_and_labels_pass_through_unchanged(router, upstream):
    session = requests.Session()
    r = predict(router, session, path="/v1/models/cifar10/versions/1:predict")
    assert r.status_code == 200 and r.headers[SERVED_LABEL_HEADER] == rollout_settings.STABLE_LABEL
    r = predict(router, session, path="/v1/models/cifar10/labels/canary:predict")
    assert r.status_code == 200 and r.headers[SERVED_LABEL_HEADER] == rollout_settings.CANARY_LABEL
    status = session.get(router.rest_url + "/v1/models/cifar10", timeout=10)
    assert status.status_code == 200 and "model_version_status" in status.json()
    assert upstream.rest_paths["/v1/models/cifar10/versions/1:predict"] == 1
    assert upstream.rest_paths["/v1/models/cifar10/labels/canary:predict"] == 1
    assert upstream.rest_paths["/v1/models/cifar10"] == 1


def test_upstream_errors_reach_the_client_and_count_as_errors(router, upstream):
    session = requests.Session()
    r = predict(router, session, path="/v1/models/cifar10/versions/9:predict")
    assert r.status_code == 500
    text = session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH).text
    stats = analysis.parse_metrics(text)[("pinned", "9")]
    assert (stats.requests, stats.errors) == (1, 1)


def test_weight_changes_are_picked_up_without_restart(router, state_path):
    session = requests.Session()
    write_state(state_path, RolloutState(stable=STABLE, canary=None, weight=0))
    time.sleep(router.policy.router.state_poll_seconds + 0.1)
    labels = {predict(router, session).headers[SERVED_LABEL_HEADER] for _ in range(30)}
    assert labels == {rollout_settings.STABLE_LABEL}


def test_grpc_predict_gets_a_label_and_pinned_specs_are_kept(router, upstream):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(router.grpc_target)
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    versions = {}
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        seen = {
            stub.Predict(
                request, metadata=[(rollout_settings.CLIENT_KEY_HEADER, key)], timeout=10
            ).model_spec.version.value
            for _ in range(4)
        }
        assert len(seen) == 1  # sticky over gRPC metadata too
        versions[key] = seen.pop()
    assert set(versions.values()) <= {STABLE, CANARY}
    assert (
        sum(
            upstream.grpc_specs[label]
            for label in (rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL)
        )
        == 24
    )
    pinned = predict_pb2.PredictRequest()
    pinned.model_spec.name = configs.MODEL_NAME
    pinned.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as failure:
        stub.Predict(pinned, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert upstream.grpc_specs["9"] == 1


def _rollout_gauges(router: Router, session: requests.Session) -> dict[str, float]:
    """The router's weight and state-timestamp gauges as one scrape shows them."""
    from prometheus_client.parser import text_string_to_metric_families

    from rollout.canary.router_metrics import STATE_UPDATED, WEIGHT

    text = session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=10).text
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name in (WEIGHT, STATE_UPDATED) and s.labels == {"model": configs.MODEL_NAME}
    }


def test_state_reloads_set_the_rollout_gauges_without_traffic(router, state_path):
    """CanaryRolloutStuck reads these two gauges: they follow the state file on scrapes alone,
    so an idle canary whose analysis loop stopped still shows a stale timestamp."""
    from rollout.canary.router_metrics import STATE_UPDATED, WEIGHT

    session = requests.Session()
    assert _rollout_gauges(router, session) == {WEIGHT: 20}  # fixture state: never written
    write_state(
        state_path,
        RolloutState(stable=STABLE, canary=CANARY, weight=50, updated_at=1_700_000_000.5),
    )
    time.sleep(router.policy.router.state_poll_seconds + 0.1)
    assert _rollout_gauges(router, session) == {WEIGHT: 50, STATE_UPDATED: 1_700_000_000.5}
    write_state(
        state_path, RolloutState(stable=CANARY, canary=None, weight=100, updated_at=1_700_000_060.0)
    )
    time.sleep(router.policy.router.state_poll_seconds + 0.1)
    # Promoted: no canary, so nothing is routed to one whatever the stored weight.
    assert _rollout_gauges(router, session) == {WEIGHT: 0, STATE_UPDATED: 1_700_000_060.0}
    assert not router.metrics.requests.collect()[0].samples  # and no predict was sent


@pytest.mark.parametrize("path", ["/v1/models/cifar10:PREDICT", "/v1/models/cifar%310:predict"])
def test_urls_are_matched_as_the_model_server_matches_them(router, upstream, path):
    """Regression: the router had its own URL pattern, case-sensitive and without percent-
    decoding, so requests TF Serving accepts passed through without a label."""
    r = predict(router, requests.Session(), key="alice", path=path)
    assert r.status_code == 200
    label = r.headers[SERVED_LABEL_HEADER]
    assert upstream.rest_paths[f"/v1/models/cifar10/labels/{label}:predict"] == 1


def test_a_busy_port_fails_start_with_the_bind_error(upstream, state_path, router):
    from rollout.policy import load_policy

    busy = Router(
        upstream.rest_url,
        upstream.grpc_target,
        state_path,
        load_policy(),
        rest_port=router.rest_port,
        grpc_port=0,
    )
    with pytest.raises(OSError, match="address already in use"):
        busy.start()
    busy.stop()  # nothing to stop: harmless


def test_slow_drift_work_never_holds_up_requests(upstream, state_path):
    """Decoding, histogramming and the alert's fsyncs run on the drift thread: while an
    alert write hangs, requests over REST and gRPC are answered without waiting for it.
    (Before, the alert hook ran on the event loop and every request waited behind it.)"""
    from dataclasses import replace

    from rollout.drift.monitor import DriftMonitor, PixelReference
    from rollout.drift.sampler import THREAD_NAME
    from rollout.policy import load_policy

    policy = load_policy()
    # every request sampled, every sample a reading, every reading an alert
    drift = replace(
        policy.drift,
        sample_rate=1.0,
        min_images=1,
        check_every=1,
        threshold=0.0,
        score_threshold=0.0,
        cooldown_seconds=0.0,
    )
    policy = replace(policy, drift=drift)
    disk_stuck, alert_threads = threading.Event(), []

    def slow_alert(reading) -> None:  # stands in for an fsync on a stalled disk
        alert_threads.append(threading.current_thread().name)
        disk_stuck.wait(20)

    reference = PixelReference(np.linspace(0, 1, 11), np.full(10, 0.1), "uniform")
    monitor = DriftMonitor(reference, drift, on_alert=slow_alert)
    with Router(
        upstream.rest_url,
        upstream.grpc_target,
        state_path,
        policy,
        rest_port=0,
        grpc_port=0,
        drift_monitor=monitor,
    ) as router:
        session = requests.Session()
        predict(router, session)  # connection set up; its sample starts the stuck alert
        wait_until(lambda: alert_threads, "the first drift alert")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(router.grpc_target)
        )
        grpc_request = predict_pb2.PredictRequest()
        grpc_request.model_spec.name = configs.MODEL_NAME
        latencies = []
        for _ in range(5):
            started = time.perf_counter()
            assert predict(router, session).status_code == 200
            stub.Predict(grpc_request, timeout=10)
            latencies.append(time.perf_counter() - started)
        assert not disk_stuck.is_set() and len(alert_threads) == 1  # still stuck
        disk_stuck.set()
        # the queued samples are taken after the stall: nothing was lost to it
        wait_until(lambda: len(alert_threads) >= 2, "the alerts after the stall")
    # a stuck alert hook would hold a request 20 s; 5 s leaves room for a loaded machine
    assert max(latencies) < 5.0, latencies
    assert set(alert_threads) == {THREAD_NAME}


@pytest.mark.parametrize("kwargs", [{}, {"version": 7}, {"label": "canary"}])
def test_the_urls_rollout_builds_are_the_ones_the_server_parses(kwargs):
    from rollout.serving_client import model_path
    from serving.model_paths import parse_model_url

    url = parse_model_url("POST", model_path("my.model", "predict", **kwargs))
    assert (url.name, url.verb) == ("my.model", "predict")
    assert url.version == (str(kwargs["version"]) if "version" in kwargs else None)
    assert url.label == kwargs.get("label")
    status = parse_model_url("GET", model_path("my.model", **kwargs))
    assert (status.name, status.verb) == ("my.model", "status")
