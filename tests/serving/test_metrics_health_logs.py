"""Prometheus metrics, the health endpoint and structured request logs."""

from __future__ import annotations

import io
import json

import requests
from prometheus_client.parser import text_string_to_metric_families

from models import features
from pipeline import configs
from serving import defaults as serving_defaults
from tests.serving.helpers import GrpcClient, sample_images

MODEL = configs.MODEL_NAME


def scrape(server) -> dict[tuple, float]:
    text = requests.get(server.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=30).text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_per_model_version_api_protocol(tiny_base, start_server):
    base = tiny_base(2)
    server = start_server(model_base_path=base)
    other = start_server(model_base_path=base)  # own registry: no clash
    client = GrpcClient(server.grpc_target)
    for _ in range(3):
        client.predict(
            MODEL, {features.INPUT_IMAGES: sample_images(2)}, signature=features.SIGNATURE_IMAGES
        )
    client.status(MODEL)
    requests.post(
        f"{server.rest_url}/v1/models/{MODEL}:predict",
        json={"signature_name": features.SIGNATURE_IMAGES, "instances": sample_images(1).tolist()},
        timeout=30,
    )
    requests.get(f"{server.rest_url}/v1/models/{MODEL}/versions/9", timeout=30)
    m = scrape(server)

    def labels(**kw):
        return tuple(sorted(kw.items()))

    assert (
        m[
            (
                "model_server_requests_total",
                labels(model=MODEL, version="2", api="predict", protocol="grpc", code="OK"),
            )
        ]
        == 3
    )
    assert (
        m[
            (
                "model_server_requests_total",
                labels(model=MODEL, version="2", api="predict", protocol="rest", code="OK"),
            )
        ]
        == 1
    )
    assert (
        m[
            (
                "model_server_requests_total",
                labels(model=MODEL, version="", api="status", protocol="grpc", code="OK"),
            )
        ]
        == 1
    )
    assert (
        m[
            (
                "model_server_request_errors_total",
                labels(model=MODEL, version="", api="status", protocol="rest", code="NOT_FOUND"),
            )
        ]
        == 1
    )
    assert (
        m[
            (
                "model_server_request_latency_seconds_count",
                labels(model=MODEL, version="2", api="predict", protocol="grpc"),
            )
        ]
        == 3
    )
    assert m[("model_server_model_versions_available", labels(model=MODEL))] == 1
    assert m[("model_server_models_available", ())] == 1
    assert not any(k[0] == "model_server_requests_total" for k in scrape(other))
    client.close()


def test_health(tiny_base, tmp_path, start_server):
    server = start_server(model_base_path=tiny_base(1))
    r = requests.get(server.rest_url + "/healthz", timeout=30)
    assert r.status_code == 200 and r.json()["models"] == {MODEL: [1]}
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/versions/9/metadata", timeout=30)
    assert r.status_code == 404


def test_start_waits_for_a_base_path_that_does_not_exist_yet(tmp_path, tiny_models, start_server):
    """TF Serving blocks start-up until every model has a version; so does start()."""
    import threading

    from tests.serving.tiny_models import push

    base = tmp_path / "later" / MODEL
    started: list = []
    thread = threading.Thread(
        target=lambda: started.append(start_server(model_base_path=base, startup_timeout=60)),
        daemon=True,
    )
    thread.start()
    thread.join(1.0)
    assert thread.is_alive() and not started  # still waiting: nothing to serve yet
    push(tiny_models(2), base, 2)
    thread.join(60)
    (server,) = started
    r = requests.get(server.rest_url + "/healthz", timeout=30)
    assert r.status_code == 200 and r.json()["models"] == {MODEL: [2]}


def test_monitoring_enable_false_hides_the_metrics(tiny_base, start_server):
    """``prometheus_config { enable: false }`` means no metrics endpoint, as in TF Serving."""
    from serving import monitoring_config

    base = tiny_base(1)
    off = monitoring_config.parse('prometheus_config { enable: false path: "/m" }')
    server = start_server(model_base_path=base, metrics_path=off.metrics_path)
    assert requests.get(server.rest_url + "/m", timeout=30).status_code == 400
    assert (
        requests.get(server.rest_url + serving_defaults.PROMETHEUS_PATH, timeout=30).status_code
        == 400
    )
    on = monitoring_config.parse('prometheus_config { enable: true path: "/m" }')
    server = start_server(model_base_path=base, metrics_path=on.metrics_path)
    assert "model_server_requests" in requests.get(server.rest_url + "/m", timeout=30).text


def test_request_log_one_json_line_per_request(tiny_base, start_server):
    stream = io.StringIO()
    server = start_server(model_base_path=tiny_base(1), request_log=stream)
    requests.post(
        f"{server.rest_url}/v1/models/{MODEL}:predict",
        json={"signature_name": features.SIGNATURE_IMAGES, "instances": sample_images(3).tolist()},
        timeout=30,
    )
    client = GrpcClient(server.grpc_target)
    client.predict(
        MODEL, {features.INPUT_IMAGES: sample_images(2)}, signature=features.SIGNATURE_IMAGES
    )
    requests.post(f"{server.rest_url}/v1/models/nope:predict", data=b"{}", timeout=30)
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [(x["protocol"], x["model"], x["status"], x["batch_size"]) for x in lines] == [
        ("rest", MODEL, "OK", 3),
        ("grpc", MODEL, "OK", 2),
        ("rest", "nope", "NOT_FOUND", 0),
    ]
    for x in lines:
        assert {"ts", "version", "signature", "latency_ms", "api"} <= set(x)
    assert lines[0]["version"] == "1" and lines[0]["signature"] == features.SIGNATURE_IMAGES
    client.close()


def test_no_request_log_by_default(tiny_base, start_server, capsys):
    server = start_server(model_base_path=tiny_base(1))
    requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30)
    assert '"protocol"' not in capsys.readouterr().err
