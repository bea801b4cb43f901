"""deploy/prometheus/: the alerting rules are valid (`promtool check rules`), behave as their
unit tests say (`promtool test rules`), use rollout/policy.yaml's thresholds, and are wired
into both Prometheus configs and the docker compose / Kubernetes files that mount them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rollout.policy import load_policy
from tests.deploy import promql
from tests.deploy.prometheus_server import config_for_test
from tests.system_deps import require_binary

PROMETHEUS = promql.DEPLOY / "prometheus"
UNIT_TESTS = PROMETHEUS / "tests" / "alerts_test.yml"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    binary = require_binary("promtool", "prometheus")
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def rule(name: str) -> dict:
    (found,) = [r for r in promql.alert_rules() if r["alert"] == name]
    return found


def test_promtool_check_rules_accepts_every_rule():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(promql.alert_rules())} rules found" in result.stdout


def test_promtool_check_rules_rejects_a_broken_expression(tmp_path):
    broken = (
        (PROMETHEUS / "alerts.yml")
        .read_text()
        .replace(
            "max by (model) (router_input_drift_distance) > 0.07",
            "max by (model) (router_input_drift_distance > 0.07",
        )
    )
    (tmp_path / "alerts.yml").write_text(broken)
    result = promtool("check", "rules", "alerts.yml", cwd=tmp_path)
    assert result.returncode != 0 and "unclosed left parenthesis" in result.stderr


def test_promtool_unit_tests_pass():
    result = promtool("test", "rules", str(UNIT_TESTS.relative_to(PROMETHEUS)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_unit_tests_fail_when_a_threshold_moves(tmp_path):
    """The unit tests pin the thresholds: a drift threshold of 0.2 breaks them."""
    (tmp_path / "tests").mkdir()
    shutil.copy(UNIT_TESTS, tmp_path / "tests")
    (tmp_path / "alerts.yml").write_text(
        (PROMETHEUS / "alerts.yml").read_text().replace("> 0.07", "> 0.2")
    )
    result = promtool("test", "rules", "tests/alerts_test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "alertname: InputDriftAboveThreshold" in result.stdout + result.stderr


def test_every_alert_has_a_unit_test_where_it_fires():
    cases = yaml.safe_load(UNIT_TESTS.read_text())["tests"]
    firing = {t["alertname"] for case in cases for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert firing == {r["alert"] for r in promql.alert_rules()}


def test_every_alert_is_labelled_and_explained():
    for r in promql.alert_rules():
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def thresholds(expr: str) -> list[float]:
    return [float(x) for x in re.findall(r"(?:>|>=|==)\s*([0-9.e+]+)", expr)]


def test_thresholds_are_the_rollout_policys():
    policy = load_policy()
    a = policy.analysis
    assert thresholds(rule("CanaryVersionHighErrorRate")["expr"]) == [a.max_error_rate]
    assert thresholds(rule("ModelServerHighErrorRate")["expr"]) == [a.max_error_rate]
    # router latency in seconds, TF Serving's in microseconds
    assert thresholds(rule("CanaryVersionHighP99Latency")["expr"]) == [
        a.min_p99_latency_ms / 1000,
        a.min_latency_requests,
    ]
    assert thresholds(rule("ModelServerHighP99Latency")["expr"]) == [a.min_p99_latency_ms * 1000]
    assert thresholds(rule("InputDriftAboveThreshold")["expr"]) == [policy.drift.threshold]


def test_a_rollout_counts_as_stuck_only_well_after_a_healthy_loop_would_have_written():
    """A healthy loop writes the rollout state every analysis window (a step, promote,
    rollback or wait), and moves the weight within (max_wait_windows + 1) windows; the rule
    waits far longer than either before it calls the loop stopped."""
    a = load_policy().analysis
    healthy_seconds = (a.max_wait_windows + 1) * a.window_seconds
    stuck = rule("CanaryRolloutStuck")
    (stale,) = re.findall(
        r"time\(\) - max by \(model\) \(router_rollout_state_updated_timestamp_seconds\)"
        r" > (\d+)",
        stuck["expr"],
    )
    assert int(stale) >= 4 * healthy_seconds >= 4 * a.window_seconds
    assert "router_requests_total" not in stuck["expr"]  # an idle canary can be stuck too


def test_both_prometheus_configs_load_the_rules_and_pass_promtool(tmp_path):
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    k8s = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())
    for config in (compose, k8s):
        assert config["rule_files"] == ["alerts.yml"]
        assert config["global"] == compose["global"]
    # The Kubernetes config is prometheus.yml's pod-discovery job, unchanged.
    (k8s_job,) = [j for j in compose["scrape_configs"] if "kubernetes_sd_configs" in j]
    assert k8s["scrape_configs"] == [k8s_job]
    # Debian's promtool has no Kubernetes discovery: check the rest (and the rules) with it.
    targets = {
        t: "127.0.0.1:1"
        for j in compose["scrape_configs"]
        for sc in j.get("static_configs", [])
        for t in sc["targets"]
    }
    local = config_for_test(compose, targets, [PROMETHEUS / "alerts.yml"], interval="15s")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(local))
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_no_static_label_overwrites_the_servers_own_labels():
    """A target label such as `model` would rename the servers' `model` to exported_model."""
    compose = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    for job in compose["scrape_configs"]:
        for static in job.get("static_configs", []):
            assert not static.get("labels"), job["job_name"]


def test_compose_mounts_the_rules_next_to_the_config():
    compose = yaml.safe_load((promql.DEPLOY / "serving" / "docker-compose.yaml").read_text())
    mounts = {v["target"]: v["source"] for v in compose["services"]["prometheus"]["volumes"]}
    config_dir = Path("/etc/prometheus")
    assert (
        "--config.file=/etc/prometheus/prometheus.yml"
        in compose["services"]["prometheus"]["command"]
    )
    compose_dir = promql.DEPLOY / "serving"
    assert (
        compose_dir / mounts[str(config_dir / "prometheus.yml")]
    ).resolve() == PROMETHEUS / "prometheus.yml"
    assert (
        compose_dir / mounts[str(config_dir / "alerts.yml")]
    ).resolve() == PROMETHEUS / "alerts.yml"


def test_kubernetes_prometheus_mounts_the_k8s_config_and_the_rules():
    kustomization = yaml.safe_load((PROMETHEUS / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    assert sorted(generator["files"]) == ["alerts.yml", "prometheus.yml=prometheus-k8s.yml"]
    docs = {
        d["kind"]: d for d in yaml.safe_load_all((PROMETHEUS / "prometheus.k8s.yaml").read_text())
    }
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert f"--config.file={mounts['config']}/prometheus.yml" in container["args"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == generator["name"]
    assert pod["serviceAccountName"] == docs["ServiceAccount"]["metadata"]["name"]
    assert docs["ClusterRoleBinding"]["roleRef"]["name"] == docs["ClusterRole"]["metadata"]["name"]


NOTE = re.compile(r"note (for|to) (the|a)\b|\bTODO\b|\bFIXME\b|\bXXX\b|\bengineer", re.I)


@pytest.mark.parametrize(
    "path",
    sorted(
        p
        for p in promql.DEPLOY.rglob("*")
        if p.is_file()
        and p.suffix in (".yml", ".yaml", ".json", ".config", ".md", "")
        and "Dockerfile" not in p.name
    ),
    ids=lambda p: str(p.relative_to(promql.DEPLOY)),
)
def test_deploy_files_carry_no_notes_addressed_to_engineers(path):
    hits = [line for line in path.read_text().splitlines() if NOTE.search(line)]
    assert not hits, hits
