"""A canary that cannot serve (its version not loaded, its label just dropped by the server,
its server gone) costs the clients
nothing: the router counts the canary's failure (so the analysis still sees it) and serves
the request from stable. A canary that answers with an error of its own is not retried."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import requests
from aiohttp import web
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.router import Router
from rollout.canary.router_grpc import UNKNOWN_LABEL
from rollout.state import RolloutState, write_state
from serving import defaults as serving_defaults
from serving.oip.protos import open_inference_pb2_grpc as oip_grpc
from tests.rollout.canary.test_router_oip import infer, model_infer
from tests.rollout.fakes import FakeModelServer

STABLE, CANARY = 1, 2
PREDICT = f"/v1/models/{configs.MODEL_NAME}:predict"
BODY = {"instances": [{"images": np.zeros((32, 32, 3), np.uint8).tolist()}]}


class CanaryGoneServer(FakeModelServer):
    """A fake model server on which the canary label's version is not loaded: REST answers
    ``gone_status`` for it, gRPC ``NOT_FOUND`` (as the model server does)."""

    gone_status = 404

    async def _handle(self, request: web.Request) -> web.Response:
        if "/canary" in request.path:
            with self._lock:
                self.rest_paths[request.path] += 1
            message = UNKNOWN_LABEL + ": canary" if self.gone_status == 400 else "not found"
            return web.json_response({"error": message}, status=self.gone_status)
        return await super()._handle(request)

    def _predict(self, request, context):
        if request.model_spec.version_label == rollout_settings.CANARY_LABEL:
            context.abort(grpc.StatusCode.NOT_FOUND, "servable not found")
        return super()._predict(request, context)

    def _model_infer(self, request, context):
        if request.model_version == rollout_settings.CANARY_LABEL:
            context.abort(grpc.StatusCode.NOT_FOUND, "servable not found")
        return super()._model_infer(request, context)


def start_router(upstream: FakeModelServer, tmp_path, weight: int = 100) -> Router:
    from rollout.policy import load_policy

    state_path = tmp_path / "state.json"
    write_state(state_path, RolloutState(stable=STABLE, canary=CANARY, weight=weight))
    return Router(
        upstream.rest_url,
        upstream.grpc_target,
        state_path,
        load_policy(),
        rest_port=0,
        grpc_port=0,
        seed=5,
    ).start()


@pytest.fixture(params=[404, 503, 400])
def gone_stack(request, tmp_path):
    upstream = CanaryGoneServer(
        {rollout_settings.STABLE_LABEL: STABLE, rollout_settings.CANARY_LABEL: CANARY}
    )
    upstream.gone_status = request.param
    upstream.start()
    router = start_router(upstream, tmp_path)
    yield router, upstream
    router.stop()
    upstream.stop()


def router_stats(router: Router, label: str, version: int) -> analysis.VersionStats:
    text = requests.get(router.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=10).text
    return analysis.stats_for(analysis.parse_metrics(text), label, version)


def test_rest_requests_for_a_gone_canary_are_served_by_stable_and_counted(gone_stack):
    router, upstream = gone_stack
    session = requests.Session()
    answers = [session.post(router.rest_url + PREDICT, json=BODY, timeout=10) for _ in range(12)]
    assert [a.status_code for a in answers] == [200] * 12
    assert {a.headers[rollout_settings.SERVED_LABEL_HEADER] for a in answers} == {"stable"}
    assert {a.json()["predictions"][0]["class_ids"] for a in answers} == {STABLE}
    assert upstream.rest_paths["/v1/models/cifar10/labels/canary:predict"] == 12
    canary = router_stats(router, rollout_settings.CANARY_LABEL, CANARY)
    stable = router_stats(router, rollout_settings.STABLE_LABEL, STABLE)
    assert (canary.requests, canary.errors) == (12, 12)  # the analysis sees the canary fail
    assert (stable.requests, stable.errors) == (12, 0)


def test_v2_infer_for_a_gone_canary_is_served_by_stable(gone_stack):
    router, _ = gone_stack
    session = requests.Session()
    for _ in range(5):
        answer = infer(router, session)
        assert answer.status_code == 200
        assert answer.json()["model_version"] == str(STABLE)


def test_grpc_calls_for_a_gone_canary_are_served_by_stable(gone_stack):
    router, upstream = gone_stack
    channel = grpc.insecure_channel(router.grpc_target)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    predict = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict
    assert {predict(request, timeout=10).model_spec.version.value for _ in range(4)} == {STABLE}
    infer_stub = oip_grpc.GRPCInferenceServiceStub(channel)
    assert {infer_stub.ModelInfer(model_infer(), timeout=10).model_version for _ in range(4)} == {
        str(STABLE)
    }
    assert upstream.grpc_specs[rollout_settings.STABLE_LABEL] == 4
    canary = router_stats(router, rollout_settings.CANARY_LABEL, CANARY)
    assert canary.errors == 8


def test_a_client_pinning_the_canary_gets_the_canary_answer(gone_stack):
    router, upstream = gone_stack
    path = "/v1/models/cifar10/labels/canary:predict"
    answer = requests.post(router.rest_url + path, json=BODY, timeout=10)
    assert answer.status_code == upstream.gone_status  # never rerouted
    assert answer.headers[rollout_settings.SERVED_LABEL_HEADER] == "canary"


def test_errors_the_canary_model_gave_are_not_retried(tmp_path):
    upstream = FakeModelServer(
        {rollout_settings.STABLE_LABEL: STABLE, rollout_settings.CANARY_LABEL: CANARY},
        failing={rollout_settings.CANARY_LABEL},
    ).start()
    router = start_router(upstream, tmp_path)
    try:
        answer = requests.post(router.rest_url + PREDICT, json=BODY, timeout=10)
        assert answer.status_code == 500
        assert answer.headers[rollout_settings.SERVED_LABEL_HEADER] == "canary"
        assert upstream.rest_paths["/v1/models/cifar10/labels/stable:predict"] == 0
    finally:
        router.stop()
        upstream.stop()


def test_an_unreachable_server_is_a_502_after_the_retry_on_stable(tmp_path):
    """Connection refused: the retry on stable finds the server down too."""
    from rollout.policy import load_policy
    from tests.support.ports import free_port

    state_path = tmp_path / "state.json"
    write_state(state_path, RolloutState(stable=STABLE, canary=CANARY, weight=100))
    port = free_port()
    upstream = (f"http://127.0.0.1:{port}", f"127.0.0.1:{port}")
    with Router(*upstream, state_path, load_policy(), rest_port=0, grpc_port=0) as router:
        answer = requests.post(router.rest_url + PREDICT, json=BODY, timeout=10)
        assert answer.status_code == 502 and "unreachable" in answer.text
        assert answer.headers[rollout_settings.SERVED_LABEL_HEADER] == "stable"
        canary = router_stats(router, rollout_settings.CANARY_LABEL, CANARY)
        assert (canary.requests, canary.errors) == (1, 1)
