"""A real Prometheus (Debian's 2.42 binary) scraping a real model server (serving/) and the
canary router (rollout/) with deploy/prometheus/prometheus.yml and alerts.yml:

* the request counts per version that Prometheus stored equal the requests this test sent;
* every Grafana panel query and every alert expression in deploy/ parses, and selects only
  metrics the servers really export, and returns series;
* the alert rules evaluate cleanly, and the error-rate and drift alerts go pending on the
  errors and the shifted inputs this test sends.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import requests
import yaml

from pipeline import configs
from rollout import settings as rollout_settings
from serving import defaults as serving_defaults
from tests.deploy import promql
from tests.deploy.prometheus_server import Prometheus, config_for_test
from tests.system_deps import require_binary

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

MODEL = configs.MODEL_NAME
STABLE, CANARY = 1, 2
GOOD_REQUESTS = 60  # through the router, un-pinned: split by the 50% weight
BAD_PER_LABEL = 4  # malformed requests pinned to each label: ~12% errors per label
DIRECT_REQUESTS = 6  # straight to the model server, version 1
ROUNDS = 2

# Metrics real TF Serving exports that cifar10-serve (serving/metrics.py) does not (yet), as
# {metric: where it would come from}: queries using them are expected to fail with
# MissingMetric until it does (then the strict xfail turns into a failure: drop the entry).
# Empty since serving/metrics.py exports TF Serving's :tensorflow:serving:* names.
NOT_EXPORTED_BY_CIFAR10_SERVE: dict[str, str] = {}


class MissingMetric(AssertionError):
    """A deploy/ query selects a metric no scraped server exports."""


def _params(queries: list[promql.Query]) -> list:
    out = []
    for q in queries:
        missing = sorted(q.metrics() & NOT_EXPORTED_BY_CIFAR10_SERVE.keys())
        marks = (
            [
                pytest.mark.xfail(
                    strict=True,
                    raises=MissingMetric,
                    reason=f"{', '.join(missing)} not exported by cifar10-serve "
                    f"({NOT_EXPORTED_BY_CIFAR10_SERVE[missing[0]]}); real TF Serving does",
                )
            ]
            if missing
            else []
        )
        out.append(pytest.param(q, id=q.source, marks=marks))
    return out


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    """Dark images (pixels below 0.4): far from the uniform drift reference below, and
    spread over a few predicted classes by the brightness model."""
    highs = rng.integers(20, 100, size=(n, 1, 1, 1))
    return (rng.random((n, 32, 32, 3)) * highs).astype(np.uint8)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Model server (v1 brightness = stable, v2 constant = canary at 50%) behind the router
    with drift sampling on every request, and Prometheus scraping both."""
    prometheus_bin = require_binary("prometheus", "prometheus")
    from demos.synthetic_models import write_model
    from rollout.canary.manager import RolloutManager
    from rollout.canary.router import Router
    from rollout.drift.monitor import DriftMonitor, PixelReference
    from rollout.policy import load_policy
    from rollout.serving_client import wait_until_available
    from serving.server import ModelServer

    root = tmp_path_factory.mktemp("monitoring")
    model_dir = configs.serving_root(root) / MODEL
    write_model(model_dir / str(STABLE), "brightness")
    write_model(model_dir / str(CANARY), "constant")
    base = load_policy()
    policy = replace(
        base,
        drift=replace(
            base.drift, sample_rate=1.0, min_images=20, window_images=100, check_every=10
        ),
    )
    manager = RolloutManager(root, policy)
    manager.init(STABLE, actor="test")
    manager.start(CANARY, weight=50, actor="test")
    server = ModelServer(
        model_config_file=manager.config_path,
        grpc_port=0,
        rest_port=0,
        model_config_poll_seconds=0.5,
        file_system_poll_seconds=0.5,
        allow_version_labels_for_unavailable_models=True,
    ).start()
    reference = PixelReference(np.linspace(0.0, 1.0, 11), np.full(10, 0.1), "uniform")
    router = Router(
        server.rest_url,
        server.grpc_target,
        manager.paths.state,
        policy,
        rest_port=0,
        grpc_port=0,
        seed=7,
        drift_monitor=DriftMonitor(reference, policy.drift),
    )
    prometheus = None
    try:
        for v in (STABLE, CANARY):
            assert wait_until_available(server.rest_url, v, timeout=60), f"v{v} not loaded"
        router.start()
        deployed = yaml.safe_load((promql.DEPLOY / "prometheus" / "prometheus.yml").read_text())
        targets = {
            f"tf-serving:{serving_defaults.REST_PORT}": f"127.0.0.1:{server.rest_port}",
            f"canary-router:{rollout_settings.ROUTER_REST_PORT}": f"127.0.0.1:{router.rest_port}",
        }
        config = config_for_test(deployed, targets, [promql.ALERTS])
        prometheus = Prometheus(prometheus_bin, config, root).start()
        # Two rounds, each scraped before the next, so every counter increases between
        # scrapes and rates are real rates, not a flat line from a first sample.
        sent: dict[str, Counter] = {
            k: Counter() for k in ("router", "router_errors", "server", "server_errors")
        }
        rng = np.random.default_rng(0)
        for _ in range(ROUNDS):
            send_traffic(server.rest_url, router.rest_url, sent, rng, ROUNDS)
            for metric, key in (
                ("router_requests_total", "router"),
                ('model_server_requests_total{api="predict"}', "server"),
            ):
                total = sum(sent[key].values())
                result = prometheus.wait_for(
                    f"sum({metric})",
                    lambda r, total=total: bool(r) and float(r[0]["value"][1]) == total,
                )
                assert result and float(result[0]["value"][1]) == total, (metric, result, total)
        assert set(sent["router"]) == {str(STABLE), str(CANARY)}  # both versions served
        yield prometheus, sent
    finally:
        if prometheus:
            prometheus.stop()
        router.stop()
        server.stop(grace=1)


BAD_BODY = {"instances": [{"no_such_input": [1]}]}  # 400 INVALID_ARGUMENT from any version


def predict_body(images: np.ndarray) -> dict:
    """A REST predict body for the images signature (the one the router samples for drift)."""
    from models import features

    return {
        "signature_name": features.SIGNATURE_IMAGES,
        "instances": [{features.INPUT_IMAGES: im.tolist()} for im in images],
    }


def send_traffic(
    server_url: str, router_url: str, sent: dict[str, Counter], rng: np.random.Generator, share: int
) -> None:
    """One round of predict calls through the router (and a few direct ones), counted into
    ``sent`` per version; ``share`` is this round's part of the test's totals."""
    session = requests.Session()
    for _ in range(GOOD_REQUESTS // share):
        r = session.post(
            f"{router_url}/v1/models/{MODEL}:predict",
            json=predict_body(_images(rng, 2)),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        version = r.headers["x-served-version"]
        sent["router"][version] += 1
        sent["server"][version] += 1
    for label, version in (
        (rollout_settings.STABLE_LABEL, STABLE),
        (rollout_settings.CANARY_LABEL, CANARY),
    ):
        for _ in range(BAD_PER_LABEL // share):
            r = session.post(
                f"{router_url}/v1/models/{MODEL}/labels/{label}:predict", json=BAD_BODY, timeout=30
            )
            assert r.status_code == 400, r.text
            for key in ("router", "router_errors", "server", "server_errors"):
                sent[key][str(version)] += 1
    for _ in range(DIRECT_REQUESTS // share):
        r = session.post(
            f"{server_url}/v1/models/{MODEL}/versions/{STABLE}:predict",
            json=predict_body(_images(rng, 1)),
            timeout=30,
        )
        assert r.status_code == 200, r.text
        sent["server"][str(STABLE)] += 1
    feedback = [
        {"label": rollout_settings.STABLE_LABEL, "version": STABLE, "correct": True},
        {"label": rollout_settings.CANARY_LABEL, "version": CANARY, "correct": False},
    ]
    assert (
        session.post(f"{router_url}/rollout/feedback", json=feedback, timeout=10).status_code == 200
    )


def by_version(result: list[dict]) -> dict[str, float]:
    return {s["metric"]["version"]: float(s["value"][1]) for s in result}


def test_prometheus_counts_per_version_equal_the_requests_sent(stack):
    prometheus, sent = stack
    router = prometheus.query(f'sum by (version) (router_requests_total{{model="{MODEL}"}})')
    assert by_version(router) == {v: float(n) for v, n in sent["router"].items()}
    errors = prometheus.query(f'sum by (version) (router_request_errors_total{{model="{MODEL}"}})')
    assert by_version(errors) == {v: float(n) for v, n in sent["router_errors"].items()}
    # The model server counted the same calls (plus the direct ones) under the same versions.
    server = prometheus.query(
        f'sum by (version) (model_server_requests_total{{model="{MODEL}",api="predict"}})'
    )
    assert by_version(server) == {v: float(n) for v, n in sent["server"].items()}
    server_errors = prometheus.query(
        f'sum by (version) (model_server_request_errors_total{{model="{MODEL}"}})'
    )
    assert by_version(server_errors) == {v: float(n) for v, n in sent["server_errors"].items()}
    # And under TF Serving's names (no version there): the malformed bodies are its
    # INVALID_ARGUMENTs, the successful predicts its REST predict latency samples.
    invalid = prometheus.query(
        f'sum(:tensorflow:serving:request_count{{model_name="{MODEL}",status="INVALID_ARGUMENT"}})'
    )
    assert float(invalid[0]["value"][1]) == sum(sent["server_errors"].values())
    timed = prometheus.query(
        f"sum(:tensorflow:serving:request_latency_count"
        f'{{model_name="{MODEL}",API="predict",entrypoint="REST"}})'
    )
    assert float(timed[0]["value"][1]) == (
        sum(sent["server"].values()) - sum(sent["server_errors"].values())
    )
    # Both targets are up, under the job names the rules and dashboards use.
    up = {s["metric"]["job"]: s["value"][1] for s in prometheus.query("up")}
    assert up == {"tf-serving": "1", "canary-router": "1"}


def check_query(prometheus: Prometheus, query: promql.Query) -> None:
    exported = set(prometheus.api("label/__name__/values"))
    missing = sorted(query.metrics() - exported)
    if missing:
        raise MissingMetric(f"{query.source}: no scraped server exports {missing}: {query.expr}")
    result = prometheus.query(query.promql)
    assert result, f"{query.source}: no series for {query.promql}"
    values = [float(sample["value"][1]) for sample in result]
    assert any(math.isfinite(v) for v in values), f"{query.source}: only NaN/Inf: {result}"


@pytest.mark.parametrize("query", _params(promql.dashboard_queries()))
def test_every_dashboard_query_returns_series(stack, query):
    check_query(stack[0], query)


@pytest.mark.parametrize("query", _params(promql.alert_queries()))
def test_every_alert_expression_parses_and_its_signal_returns_series(stack, query):
    prometheus = stack[0]
    prometheus.query(query.expr)  # the full rule parses (PromQLError otherwise)
    check_query(prometheus, query)


def test_the_rules_evaluate_and_the_error_and_drift_alerts_go_pending(stack):
    prometheus = stack[0]
    groups = prometheus.api("rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == {r["alert"] for r in promql.alert_rules()}
    alerts = prometheus.wait_for(
        'ALERTS{alertname=~"CanaryVersionHighErrorRate|InputDriftAboveThreshold"}',
        lambda r: len(r) == 3,
    )
    got = {(a["metric"]["alertname"], a["metric"].get("label", "")) for a in alerts}
    assert got == {
        ("CanaryVersionHighErrorRate", rollout_settings.STABLE_LABEL),
        ("CanaryVersionHighErrorRate", rollout_settings.CANARY_LABEL),
        ("InputDriftAboveThreshold", ""),
    }
    assert {a["metric"]["alertstate"] for a in alerts} == {"pending"}  # `for:` not over yet
    groups = prometheus.api("rules")["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
