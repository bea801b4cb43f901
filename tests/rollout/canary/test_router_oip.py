"""The router splits Open Inference Protocol traffic (``/v2`` REST, ``ModelInfer`` gRPC) as
it splits TF Serving's API, and its metrics count both protocols."""

from __future__ import annotations

import json
import math

import grpc
import numpy as np
import pytest
import requests

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import analysis
from rollout.canary.router import Router
from serving import defaults as serving_defaults
from serving.oip.protos import open_inference_pb2 as oip_pb
from serving.oip.protos import open_inference_pb2_grpc as oip_grpc
from tests.rollout.canary.conftest import CANARY, STABLE

INFER = f"/v2/models/{configs.MODEL_NAME}/infer"
HEADER_LENGTH = "Inference-Header-Content-Length"


def infer_body(n: int = 1, binary_output: bool = False) -> dict:
    body = {
        "inputs": [
            {
                "name": "images",
                "datatype": "UINT8",
                "shape": [n, 32, 32, 3],
                "data": np.zeros((n, 32, 32, 3), np.uint8).ravel().tolist(),
            }
        ]
    }
    if binary_output:
        body["parameters"] = {"binary_data_output": True}
    return body


def infer(router: Router, session, path: str = INFER, key: str | None = None, **kwargs):
    headers = {rollout_settings.CLIENT_KEY_HEADER: key} if key else {}
    return session.post(
        router.rest_url + path, json=infer_body(**kwargs), headers=headers, timeout=10
    )


def scrape(router: Router, session) -> str:
    return session.get(router.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=10).text


def requests_by_protocol(text: str) -> dict[tuple[str, str], float]:
    """(label, protocol) -> router_requests_total."""
    from prometheus_client.parser import text_string_to_metric_families

    from rollout.canary.router_metrics import REQUESTS

    return {
        (s.labels["label"], s.labels["protocol"]): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == REQUESTS
    }


def test_v2_infer_is_split_by_the_weight_and_counted_per_version(router, upstream):
    session = requests.Session()
    n = 300
    answers = [infer(router, session) for _ in range(n)]
    assert all(a.status_code == 200 for a in answers)
    served = [a.headers[rollout_settings.SERVED_LABEL_HEADER] for a in answers]
    canary = served.count(rollout_settings.CANARY_LABEL)
    assert abs(canary - n * 0.2) <= 4 * math.sqrt(n * 0.2 * 0.8)
    # the upstream saw the label as the version, never the bare model path
    assert (
        upstream.rest_paths[f"/v2/models/cifar10/versions/{rollout_settings.CANARY_LABEL}/infer"]
        == canary
    )
    assert upstream.rest_paths[INFER] == 0
    versions = {a.headers[rollout_settings.SERVED_VERSION_HEADER] for a in answers}
    assert versions == {str(STABLE), str(CANARY)}
    text = scrape(router, session)
    c = analysis.stats_for(analysis.parse_metrics(text), rollout_settings.CANARY_LABEL, CANARY)
    assert c.requests == canary and c.classes == {CANARY % 10: canary} and c.errors == 0
    assert requests_by_protocol(text) == {
        (rollout_settings.CANARY_LABEL, "rest-oip"): canary,
        (rollout_settings.STABLE_LABEL, "rest-oip"): n - canary,
    }


def test_v2_client_keys_are_sticky(router):
    session = requests.Session()
    for key in ("alice", "bob", "carol", "dave"):
        labels = {
            infer(router, session, key=key).headers[rollout_settings.SERVED_LABEL_HEADER]
            for _ in range(6)
        }
        assert len(labels) == 1


def test_v2_pinned_versions_labels_health_and_metadata_pass_through(router, upstream):
    session = requests.Session()
    pinned = infer(router, session, path="/v2/models/cifar10/versions/1/infer")
    assert pinned.status_code == 200
    assert pinned.headers[rollout_settings.SERVED_LABEL_HEADER] == rollout_settings.STABLE_LABEL
    labelled = infer(router, session, path="/v2/models/cifar10/versions/canary/infer")
    assert labelled.headers[rollout_settings.SERVED_VERSION_HEADER] == str(CANARY)
    for path in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/cifar10",
        "/v2/models/cifar10/versions/1/ready",
    ):
        answer = session.get(router.rest_url + path, timeout=10)
        assert answer.status_code == 200, path
        assert rollout_settings.SERVED_LABEL_HEADER not in answer.headers
        assert upstream.rest_paths[path] == 1
    assert upstream.rest_paths["/v2/models/cifar10/versions/1/infer"] == 1
    other = infer(router, session, path="/v2/models/other/infer")
    assert other.status_code == 200 and upstream.rest_paths["/v2/models/other/infer"] == 1
    assert rollout_settings.SERVED_LABEL_HEADER not in other.headers


def test_v2_binary_answers_reach_the_client_whole_and_are_read(router):
    """The binary tensor extension: the answer's Inference-Header-Content-Length comes
    back to the client, and the router reads the class ids from the binary section."""
    session = requests.Session()
    answer = infer(router, session, n=3, binary_output=True)
    assert answer.status_code == 200
    length = int(answer.headers[HEADER_LENGTH])
    header = json.loads(answer.content[:length])
    version = int(header["model_version"])
    ids = np.frombuffer(answer.content[length:], np.int64)
    assert ids.tolist() == [version % 10] * 3
    label = answer.headers[rollout_settings.SERVED_LABEL_HEADER]
    stats = analysis.stats_for(analysis.parse_metrics(scrape(router, session)), label, version)
    assert stats.classes == {version % 10: 3}


def test_v2_upstream_errors_count_as_errors(router):
    session = requests.Session()
    answer = infer(router, session, path="/v2/models/cifar10/versions/9/infer")
    assert answer.status_code == 500
    stats = analysis.parse_metrics(scrape(router, session))[("pinned", "9")]
    assert (stats.requests, stats.errors) == (1, 1)


def model_infer(model_version: str = "") -> oip_pb.ModelInferRequest:
    request = oip_pb.ModelInferRequest(model_name=configs.MODEL_NAME, model_version=model_version)
    request.inputs.add(name="images", datatype="UINT8", shape=[2, 32, 32, 3])
    request.raw_input_contents.append(np.zeros((2, 32, 32, 3), np.uint8).tobytes())
    return request


def test_grpc_model_infer_gets_a_label_and_both_protocols_are_counted(router, upstream):
    stub = oip_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(router.grpc_target))
    served = {}
    for key in ("k1", "k2", "k3", "k4", "k5", "k6"):
        versions = {
            stub.ModelInfer(
                model_infer(), metadata=[(rollout_settings.CLIENT_KEY_HEADER, key)], timeout=10
            ).model_version
            for _ in range(3)
        }
        assert len(versions) == 1  # sticky over gRPC metadata
        served[key] = versions.pop()
    assert set(served.values()) <= {str(STABLE), str(CANARY)}
    by_label = sum(
        upstream.grpc_specs[f"oip:{label}"]
        for label in (rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL)
    )
    assert by_label == 18 and upstream.grpc_specs["oip:default"] == 0
    pinned = stub.ModelInfer(model_infer("1"), timeout=10)
    assert pinned.model_version == "1" and upstream.grpc_specs["oip:1"] == 1
    with pytest.raises(grpc.RpcError) as failure:
        stub.ModelInfer(model_infer("9"), timeout=10)
    assert failure.value.code() == grpc.StatusCode.INTERNAL
    session = requests.Session()
    snapshot = analysis.parse_metrics(scrape(router, session))
    stable = analysis.stats_for(snapshot, rollout_settings.STABLE_LABEL, STABLE)
    assert stable.classes == {STABLE % 10: 2 * stable.requests}  # two images a request
    infer(router, session)  # one REST /v2 request beside the gRPC ones
    counted = requests_by_protocol(scrape(router, session))
    assert sum(v for (_, p), v in counted.items() if p == "grpc-oip") == 20
    assert sum(v for (_, p), v in counted.items() if p == "rest-oip") == 1


def test_tf_serving_calls_are_counted_as_their_own_protocols(router):
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    session = requests.Session()
    body = {"instances": [{"images": np.zeros((32, 32, 3), np.uint8).tolist()}]}
    url = f"{router.rest_url}/v1/models/{configs.MODEL_NAME}:predict"
    assert session.post(url, json=body, timeout=10).status_code == 200
    stub = prediction_service_pb2_grpc.PredictionServiceStub(
        grpc.insecure_channel(router.grpc_target)
    )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = configs.MODEL_NAME
    stub.Predict(request, timeout=10)
    infer(router, session)
    counted = requests_by_protocol(scrape(router, session))
    assert sorted(p for (_, p) in counted) == ["grpc", "rest", "rest-oip"]
    assert sum(counted.values()) == 3


def test_v2_requests_are_sampled_for_drift(upstream, state_path):
    """Images of /v2 infer requests (REST JSON and gRPC raw contents) reach the drift
    monitor as /v1 ones do."""
    from dataclasses import replace

    from rollout.drift.monitor import DriftMonitor, PixelReference
    from rollout.policy import load_policy
    from tests.support.waiting import wait_until

    policy = load_policy()
    drift = replace(policy.drift, sample_rate=1.0, min_images=1, check_every=1)
    policy = replace(policy, drift=drift)
    reference = PixelReference(np.linspace(0, 1, 11), np.full(10, 0.1), "uniform")
    monitor = DriftMonitor(reference, drift)
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
        assert infer(router, session, n=3).status_code == 200
        stub = oip_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(router.grpc_target))
        stub.ModelInfer(model_infer(), timeout=10)

        def sampled() -> float:
            from prometheus_client.parser import text_string_to_metric_families

            from rollout.canary.router_metrics import DRIFT_SAMPLED

            return sum(
                s.value
                for f in text_string_to_metric_families(scrape(router, session))
                for s in f.samples
                if s.name == DRIFT_SAMPLED
            )

        wait_until(lambda: sampled() >= 5, "3 REST and 2 gRPC images sampled")
        assert sampled() == 5


def test_an_unreadable_upstream_answer_is_passed_on_and_counted_without_classes(router):
    """The router reads answers best-effort: a lying Inference-Header-Content-Length from
    upstream reaches the client as sent, never a router error."""
    session = requests.Session()
    answer = infer(router, session, path="/v2/models/cifar10/versions/liar/infer")
    assert answer.status_code == 200 and answer.headers[HEADER_LENGTH] == "999"
    assert answer.content == b"{}"
    stats = analysis.parse_metrics(scrape(router, session))[("liar", "unknown")]
    assert (stats.requests, stats.errors, stats.classes) == (1, 0, {})
