"""The router against an in-test fake model server (REST and gRPC)."""

from __future__ import annotations

import math
import time

import grpc
import numpy as np
import pytest
import requests
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline import configs
from rollout import analysis
from rollout.router import SERVED_LABEL_HEADER, Router
from rollout.state import RolloutState, write_state
from tests.rollout.fakes import FakeModelServer

STABLE, CANARY = 1, 2
BODY = {"instances": [{"images": np.zeros((32, 32, 3), np.uint8).tolist()}]}


@pytest.fixture
def upstream():
    server = FakeModelServer({configs.STABLE_LABEL: STABLE, configs.CANARY_LABEL: CANARY},
                             failing={"9"}).start()
    yield server
    server.stop()


@pytest.fixture
def state_path(tmp_path):
    path = tmp_path / "state.json"
    write_state(path, RolloutState(stable=STABLE, canary=CANARY, weight=20))
    return path


@pytest.fixture
def router(upstream, state_path):
    from rollout.policy import load_policy

    r = Router(upstream.rest_url, upstream.grpc_target, state_path, load_policy(),
               rest_port=0, grpc_port=0, seed=3).start()
    yield r
    r.stop()


def predict(router: Router, session: requests.Session, key: str | None = None,
            path: str = f"/v1/models/{configs.MODEL_NAME}:predict") -> requests.Response:
    headers = {configs.CLIENT_KEY_HEADER: key} if key else {}
    return session.post(router.rest_url + path, json=BODY, headers=headers, timeout=10)


def test_rest_split_matches_the_weight_and_metrics_count_each_version(router, upstream):
    session = requests.Session()
    n = 400
    served = [predict(router, session).headers[SERVED_LABEL_HEADER] for _ in range(n)]
    canary = served.count(configs.CANARY_LABEL)
    assert abs(canary - n * 0.2) <= 4 * math.sqrt(n * 0.2 * 0.8)
    # The upstream saw label paths, never the bare model path.
    assert sum(upstream.rest_paths.values()) == n
    assert upstream.rest_paths["/v1/models/cifar10/labels/canary:predict"] == canary
    snapshot = analysis.parse_metrics(session.get(router.rest_url + configs.PROMETHEUS_PATH).text)
    c = analysis.stats_for(snapshot, configs.CANARY_LABEL, CANARY)
    s = analysis.stats_for(snapshot, configs.STABLE_LABEL, STABLE)
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
    assert r.status_code == 200 and r.headers[SERVED_LABEL_HEADER] == configs.STABLE_LABEL
    r = predict(router, session, path="/v1/models/cifar10/labels/canary:predict")
    assert r.status_code == 200 and r.headers[SERVED_LABEL_HEADER] == configs.CANARY_LABEL
    status = session.get(router.rest_url + "/v1/models/cifar10", timeout=10)
    assert status.status_code == 200 and "model_version_status" in status.json()
    assert upstream.rest_paths["/v1/models/cifar10/versions/1:predict"] == 1
    assert upstream.rest_paths["/v1/models/cifar10/labels/canary:predict"] == 1
    assert upstream.rest_paths["/v1/models/cifar10"] == 1


def test_upstream_errors_reach_the_client_and_count_as_errors(router, upstream):
    session = requests.Session()
    r = predict(router, session, path="/v1/models/cifar10/versions/9:predict")
    assert r.status_code == 500
    text = session.get(router.rest_url + configs.PROMETHEUS_PATH).text
    stats = analysis.parse_metrics(text)[("pinned", "9")]
    assert (stats.requests, stats.errors) == (1, 1)


def test_weight_changes_are_picked_up_without_restart(router, state_path):
    session = requests.Session()
    write_state(state_path, RolloutState(stable=STABLE, canary=None, weight=0))
    time.sleep(router.policy.router.state_poll_seconds + 0.1)
    labels = {predict(router, session).headers[SERVED_LABEL_HEADER] for _ in range(30)}
    assert labels == {configs.STABLE_LABEL}


def test_grpc_predict_gets_a_label_and_pinned_specs_are_kept(router, upstream):
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(router.grpc_target))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    versions = {}
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        seen = {stub.Predict(request, metadata=[(configs.CLIENT_KEY_HEADER, key)],
                             timeout=10).model_spec.version.value for _ in range(4)}
        assert len(seen) == 1  # sticky over gRPC metadata too
        versions[key] = seen.pop()
    assert set(versions.values()) <= {STABLE, CANARY}
    assert sum(upstream.grpc_specs[label] for label in
               (configs.STABLE_LABEL, configs.CANARY_LABEL)) == 24
    pinned = predict_pb2.PredictRequest()
    pinned.model_spec.name = configs.MODEL_NAME
    pinned.model_spec.version.value = 9
    with pytest.raises(grpc.RpcError) as failure:
        stub.Predict(pinned, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    assert upstream.grpc_specs["9"] == 1
