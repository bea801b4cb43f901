"""deploy/grafana/: the dashboards are well-formed Grafana JSON on the provisioned Prometheus
datasource, every query expands to plain PromQL, and docker compose and Kubernetes mount the
provisioning and the dashboards where the provider looks. (Whether each query returns data
from the real servers: tests/deploy/test_prometheus_live.py.)"""

from __future__ import annotations

import re

import yaml

from tests.deploy import promql

GRAFANA = promql.DEPLOY / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "cifar10.yaml"


def datasource() -> dict:
    (ds,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return ds


def provider_path() -> str:
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    return provider["options"]["path"]


def test_dashboards_are_versioned_with_unique_uids_and_titles():
    dashboards = promql.load_dashboards()
    assert set(dashboards) == {"model-server.json", "canary.json"}
    uids = [d["uid"] for d in dashboards.values()]
    titles = [d["title"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    for d in dashboards.values():
        assert isinstance(d["version"], int) and d["version"] >= 1
        assert d["schemaVersion"] >= 36 and d["editable"] is False
        assert "id" not in d  # an id would clash with the database's on provisioning


def test_every_panel_queries_the_provisioned_datasource():
    uid = datasource()["uid"]
    for name, d in promql.load_dashboards().items():
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), name
        for v in d["templating"]["list"]:
            assert v["datasource"] == {"type": "prometheus", "uid": uid}, (name, v["name"])
        for panel in promql.panels(d):
            where = (name, panel["title"])
            assert panel["datasource"] == {"type": "prometheus", "uid": uid}, where
            assert panel["targets"], where
            assert panel["description"], where
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid and target["expr"].strip(), where
            grid = panel["gridPos"]
            assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, where


def test_every_query_expands_to_plain_promql():
    queries = promql.dashboard_queries()
    assert len(queries) >= 20
    for q in queries:
        assert "$" not in q.promql, q
        assert "rate(" not in q.promql or "[1m]" in q.promql, q
        assert q.metrics(), q  # selects at least one exported metric family


def test_the_model_server_dashboard_uses_tf_servings_metric_names():
    """So it works against production TF Serving, not only cifar10-serve."""
    queries = [
        q for q in promql.dashboard_queries() if q.source.startswith("cifar10-model-server/")
    ]
    used = set().union(*(q.metrics() for q in queries))
    assert {
        ":tensorflow:serving:request_count",
        ":tensorflow:serving:request_latency_bucket",
    } <= used
    # latency panels say TF Serving's unit (microseconds)
    d = promql.load_dashboards()["model-server.json"]
    for panel in promql.panels(d):
        if any(":tensorflow:serving:request_latency_bucket" in t["expr"] for t in panel["targets"]):
            assert panel["fieldConfig"]["defaults"]["unit"] == "µs", panel["title"]


def test_the_canary_dashboard_shows_stable_and_canary_weight_classes_and_drift():
    used = set().union(
        *(q.metrics() for q in promql.dashboard_queries() if q.source.startswith("cifar10-canary/"))
    )
    assert {
        "router_canary_weight_percent",
        "router_predicted_class_total",
        "router_input_drift_distance",
        "router_requests_total",
        "router_request_errors_total",
        "router_request_latency_seconds_bucket",
    } <= used
    titles = [p["title"] for p in promql.panels(promql.load_dashboards()["canary.json"])]
    assert "Predicted classes: stable" in titles and "Predicted classes: canary" in titles


def test_panel_descriptions_name_only_alerts_that_exist():
    alerts = {r["alert"] for r in promql.alert_rules()}
    named = set()
    for d in promql.load_dashboards().values():
        for panel in promql.panels(d):
            for name in re.findall(r"\b[A-Z][a-z]+(?:[A-Z][a-z0-9]+){2,}\b", panel["description"]):
                assert name in alerts, (panel["title"], name)
                named.add(name)
    assert len(named) >= 6  # most alerts are shown next to the panel they watch


def test_datasource_url_comes_from_the_environment_compose_and_k8s_set():
    ds = datasource()
    assert ds["type"] == "prometheus" and ds["url"] == "${PROMETHEUS_URL}"
    compose = yaml.safe_load((promql.DEPLOY / "serving" / "docker-compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    prometheus_port = compose["services"]["prometheus"]["ports"][0].split(":")[1]
    assert grafana["environment"]["PROMETHEUS_URL"] == f"http://prometheus:{prometheus_port}"
    docs = {d["kind"]: d for d in yaml.safe_load_all((GRAFANA / "grafana.k8s.yaml").read_text())}
    (container,) = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    prom_k8s = {
        d["kind"]: d
        for d in yaml.safe_load_all(
            (promql.DEPLOY / "prometheus" / "prometheus.k8s.yaml").read_text()
        )
    }
    service = prom_k8s["Service"]
    assert (
        env["PROMETHEUS_URL"]
        == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    )


def test_compose_mounts_provisioning_and_dashboards_where_grafana_looks():
    compose_dir = promql.DEPLOY / "serving"
    compose = yaml.safe_load((compose_dir / "docker-compose.yaml").read_text())
    mounts = {
        v["target"]: (compose_dir / v["source"]).resolve()
        for v in compose["services"]["grafana"]["volumes"]
    }
    assert mounts["/etc/grafana/provisioning"] == GRAFANA / "provisioning"
    assert mounts[provider_path()] == GRAFANA / "dashboards"


def test_kubernetes_grafana_mounts_generated_configmaps_of_every_file():
    kustomization = yaml.safe_load((GRAFANA / "kustomization.yaml").read_text())
    generated = {g["name"]: g["files"] for g in kustomization["configMapGenerator"]}
    docs = {d["kind"]: d for d in yaml.safe_load_all((GRAFANA / "grafana.k8s.yaml").read_text())}
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounted = {}  # mount path -> files of the ConfigMap mounted there
    volumes = {v["name"]: v["configMap"]["name"] for v in pod["volumes"]}
    for m in container["volumeMounts"]:
        mounted[m["mountPath"]] = sorted(generated[volumes[m["name"]]])
    assert mounted["/etc/grafana/provisioning/datasources"] == [
        str(DATASOURCES.relative_to(GRAFANA))
    ]
    assert mounted["/etc/grafana/provisioning/dashboards"] == [str(PROVIDERS.relative_to(GRAFANA))]
    assert mounted[provider_path()] == sorted(
        f"dashboards/{name}" for name in promql.load_dashboards()
    )
