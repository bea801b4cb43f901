"""TF Serving's own metric names on cifar10-serve's metrics page.

Production dashboards and alerts query ``:tensorflow:serving:request_count`` and
``:tensorflow:serving:request_latency_*`` exactly as TF Serving 2.16 exposes them, so the
tests read the raw page (prometheus_client's parser would rename the counter to ``_total``)
and check names, ``# TYPE`` lines, labels, bucket limits and which requests are recorded.
"""

from __future__ import annotations

import re

import grpc
import pytest
import requests

from models import features
from pipeline import configs
from serving import defaults as serving_defaults
from serving.metrics import (
    TF_LATENCY_LIMITS_US,
    TF_REQUEST_COUNT,
    TF_REQUEST_LATENCY,
    ServerMetrics,
    TFServingMetrics,
)
from tests.serving.helpers import GrpcClient, sample_images

MODEL = configs.MODEL_NAME
_SAMPLE = re.compile(r"^(?P<name>[^{\s]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> tuple[dict[str, str], dict[tuple, float]]:
    """``# TYPE`` per family and every sample keyed by (name, sorted non-empty labels), names
    as written on the page."""
    types: dict[str, str] = {}
    samples: dict[tuple, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line and not line.startswith("#"):
            m = _SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            # An empty value is no label at all to Prometheus.
            labels = tuple(sorted(kv for kv in _LABEL.findall(m["labels"] or "") if kv[1]))
            samples[(m["name"], labels)] = float(m["value"])
    return types, samples


def lab(**kw: str) -> tuple:
    return tuple(sorted(kw.items()))


def test_bucket_limits_are_tensorflows_exponential_10_1_8_33():
    assert len(TF_LATENCY_LIMITS_US) == 33
    assert TF_LATENCY_LIMITS_US[:4] == (10.0, 18.0, 32.4, 58.32)
    assert TF_LATENCY_LIMITS_US[-1] == pytest.approx(10 * 1.8**32)  # ~24.6 minutes


def test_exposition_is_tf_serving_text_format():
    tf = TFServingMetrics()
    tf.record(model_name="m", api="Predict", entrypoint="GRPC", status="OK", microseconds=10)
    tf.record(model_name="m", api="Predict", entrypoint="GRPC", status="OK", microseconds=9)
    tf.record(
        model_name="m", api="Predict", entrypoint="GRPC", status="INVALID_ARGUMENT", microseconds=5
    )
    text = tf.exposition()
    lines = text.splitlines()
    # The counter keeps its name: no _total on the samples nor on the TYPE line, no HELP.
    assert lines[0] == f"# TYPE {TF_REQUEST_COUNT} counter"
    assert f'{TF_REQUEST_COUNT}{{model_name="m",status="OK"}} 2' in lines
    assert f'{TF_REQUEST_COUNT}{{model_name="m",status="INVALID_ARGUMENT"}} 1' in lines
    assert "_total" not in text and "# HELP" not in text
    assert f"# TYPE {TF_REQUEST_LATENCY} histogram" in lines
    prefix = f'{TF_REQUEST_LATENCY}_bucket{{model_name="m",API="Predict",entrypoint="GRPC",'
    buckets = [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]
    # 33 limits printed with six significant digits as absl::StrCat does, then +Inf. A value
    # equal to a limit counts in the next bucket (TensorFlow's upper_bound), so 10 us is not
    # in le="10"; the failed request is counted above but not timed.
    assert buckets[:3] == ['le="10"} 1', 'le="18"} 2', 'le="32.4"} 2']
    assert buckets[-2:] == ['le="1.47476e+09"} 2', 'le="+Inf"} 2']
    assert len(buckets) == 34
    assert f'{TF_REQUEST_LATENCY}_sum{{model_name="m",API="Predict",entrypoint="GRPC"}} 19' in lines
    assert (
        f'{TF_REQUEST_LATENCY}_count{{model_name="m",API="Predict",entrypoint="GRPC"}} 2' in lines
    )


@pytest.mark.parametrize(
    ("protocol", "api", "recorded"),
    [
        ("grpc", "predict", ("Predict", "GRPC")),
        ("grpc", "classify", ("Classify", "GRPC")),
        ("grpc", "regress", ("Regress", "GRPC")),
        # PredictionServiceImpl::MultiInference / GetModelMetadata and the ModelService record
        # nothing in TF Serving.
        ("grpc", "multi_inference", None),
        ("grpc", "metadata", None),
        ("grpc", "status", None),
        ("grpc", "reload_config", None),
        # http_server.cc records every REST request; API is the URL's verb, "" for GETs.
        ("rest", "predict", ("predict", "REST")),
        ("rest", "classify", ("classify", "REST")),
        ("rest", "regress", ("regress", "REST")),
        ("rest", "status", ("", "REST")),
        ("rest", "metadata", ("", "REST")),
    ],
)
def test_which_requests_tf_serving_records(protocol, api, recorded):
    metrics = ServerMetrics()
    metrics.observe(model="m", version="1", api=api, protocol=protocol, code="OK", seconds=0.002)
    _, samples = parse(metrics.exposition().decode())
    counted = samples.get((TF_REQUEST_COUNT, lab(model_name="m", status="OK")))
    timed = {k[1]: v for k, v in samples.items() if k[0] == f"{TF_REQUEST_LATENCY}_count"}
    if recorded is None:
        assert counted is None and not timed
    else:
        labels = {"model_name": "m", "API": recorded[0], "entrypoint": recorded[1]}
        assert counted == 1
        assert timed == {lab(**{k: v for k, v in labels.items() if v}): 1.0}
    # cifar10-serve's own names are kept for every request.
    assert (
        samples[
            (
                "model_server_requests_total",
                lab(model="m", version="1", api=api, protocol=protocol, code="OK"),
            )
        ]
        == 1
    )


def test_repeated_requests_add_up_per_label_set():
    """Each label set keeps its own counts however often it recurs (``observe`` reuses a
    series' children after its first request); errors count only non-OK requests."""
    metrics = ServerMetrics()
    calls = [("1", "OK")] * 3 + [("2", "OK"), ("1", "NOT_FOUND"), ("1", "NOT_FOUND")]
    for version, code in calls:
        metrics.observe(
            model="m", version=version, api="predict", protocol="rest", code=code, seconds=0.004
        )
    _, samples = parse(metrics.exposition().decode())

    def series(name: str, **labels: str) -> float | None:
        return samples.get((name, lab(model="m", api="predict", protocol="rest", **labels)))

    assert series("model_server_requests_total", version="1", code="OK") == 3
    assert series("model_server_requests_total", version="2", code="OK") == 1
    assert series("model_server_requests_total", version="1", code="NOT_FOUND") == 2
    assert series("model_server_request_errors_total", version="1", code="NOT_FOUND") == 2
    assert series("model_server_request_errors_total", version="1", code="OK") is None
    assert series("model_server_request_latency_seconds_count", version="1") == 5
    assert series("model_server_request_latency_seconds_count", version="2") == 1
    assert samples[(TF_REQUEST_COUNT, lab(model_name="m", status="OK"))] == 4
    assert samples[(TF_REQUEST_COUNT, lab(model_name="m", status="NOT_FOUND"))] == 2


def test_server_exports_tf_serving_names_for_grpc_and_rest(tiny_base, start_server):
    server = start_server(model_base_path=tiny_base(1))
    client = GrpcClient(server.grpc_target)
    images = {features.INPUT_IMAGES: sample_images(2)}
    for _ in range(2):
        client.predict(MODEL, images, signature=features.SIGNATURE_IMAGES)
    with pytest.raises(grpc.RpcError) as failed:
        client.predict(MODEL, images, signature="no_such_signature")
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION  # as TF Serving
    client.metadata(MODEL)  # not recorded by TF Serving over gRPC
    client.status(MODEL)  # nor is the ModelService
    client.close()
    rest = server.rest_url
    body = {"signature_name": features.SIGNATURE_IMAGES, "instances": sample_images(1).tolist()}
    assert (
        requests.post(f"{rest}/v1/models/{MODEL}:predict", json=body, timeout=30).status_code == 200
    )
    assert requests.post(f"{rest}/v1/models/nope:predict", json=body, timeout=30).status_code == 404
    assert requests.get(f"{rest}/v1/models/{MODEL}", timeout=30).status_code == 200
    assert requests.get(f"{rest}/v1/models/{MODEL}/metadata", timeout=30).status_code == 200
    assert requests.post(f"{rest}/v1/nothing/here", timeout=30).status_code == 400  # malformed
    assert requests.get(f"{rest}/v1/models", timeout=30).status_code == 400  # no model name

    types, samples = parse(requests.get(rest + serving_defaults.PROMETHEUS_PATH, timeout=30).text)
    assert types[TF_REQUEST_COUNT] == "counter" and types[TF_REQUEST_LATENCY] == "histogram"
    counts = {k[1]: v for k, v in samples.items() if k[0] == TF_REQUEST_COUNT}
    assert counts == {
        # gRPC: 2 predicts + the failed one; REST: predict, status, metadata.
        lab(model_name=MODEL, status="OK"): 2 + 3,
        lab(model_name=MODEL, status="FAILED_PRECONDITION"): 1,
        lab(model_name="nope", status="NOT_FOUND"): 1,
        # The malformed route and the missing name: model_name "" (no label).
        lab(status="INVALID_ARGUMENT"): 2,
    }
    timed = {k[1]: v for k, v in samples.items() if k[0] == f"{TF_REQUEST_LATENCY}_count"}
    assert timed == {  # successful requests only
        lab(model_name=MODEL, API="Predict", entrypoint="GRPC"): 2,
        lab(model_name=MODEL, API="predict", entrypoint="REST"): 1,
        lab(model_name=MODEL, entrypoint="REST"): 2,  # GET status and metadata: API ""
    }
    grpc_buckets = {
        dict(k[1])["le"]: v
        for k, v in samples.items()
        if k[0] == f"{TF_REQUEST_LATENCY}_bucket" and dict(k[1]).get("entrypoint") == "GRPC"
    }
    assert len(grpc_buckets) == 34 and grpc_buckets["+Inf"] == 2
    grpc_sum = samples[
        (f"{TF_REQUEST_LATENCY}_sum", lab(model_name=MODEL, API="Predict", entrypoint="GRPC"))
    ]
    assert 2 * 10 <= grpc_sum < 2 * 30e6  # microseconds: more than 10 us, under 30 s each
    # The server's own names are still there.
    assert (
        samples[
            (
                "model_server_requests_total",
                lab(model=MODEL, version="1", api="predict", protocol="grpc", code="OK"),
            )
        ]
        == 2
    )
