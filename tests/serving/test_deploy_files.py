"""The production files (docker compose, Kubernetes, TF Serving and Prometheus configs) agree
with pipeline/configs.py and with the server's flags."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import configs
from rollout import settings as rollout_settings
from serving import cli, monitoring_config
from serving import defaults as serving_defaults

DEPLOY = configs.REPO_ROOT / "deploy"
SERVING = DEPLOY / "serving"
K8S = SERVING / "k8s"


def load_models_config(text: str) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((SERVING / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[doc["kind"]] = doc
    return docs


def check_server_flags(args: list[str], config_path: str) -> None:
    """The real server's flags parse with our CLI (same names) and carry the project values."""
    flags = cli.build_parser().parse_args(args)
    assert flags.port == serving_defaults.GRPC_PORT
    assert flags.rest_api_port == serving_defaults.REST_PORT
    assert str(flags.model_config_file) == config_path
    assert flags.model_config_file_poll_wait_seconds == serving_defaults.MODEL_CONFIG_POLL_SECONDS
    assert flags.file_system_poll_wait_seconds == serving_defaults.FILE_SYSTEM_POLL_SECONDS
    assert flags.allow_version_labels_for_unavailable_models is True
    assert flags.monitoring_config_file is not None


def test_models_config_matches_configs():
    proto = load_models_config((SERVING / serving_defaults.MODEL_CONFIG_FILENAME).read_text())
    (cfg,) = proto.model_config_list.config
    assert cfg.name == configs.MODEL_NAME
    assert cfg.base_path == f"/models/{configs.MODEL_NAME}"
    assert cfg.model_platform == "tensorflow"
    assert set(cfg.version_labels) == {rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL}
    # The stable and canary versions must both stay loaded.
    assert cfg.model_version_policy.latest.num_versions >= 2


def test_monitoring_config_matches_configs():
    mon = monitoring_config.load_file(SERVING / "monitoring.config")
    assert mon.enabled and mon.path == serving_defaults.PROMETHEUS_PATH


def test_compose_runs_tf_serving_on_the_pushed_directory(compose):
    svc = compose["services"]["tf-serving"]
    assert svc["image"] == serving_defaults.SERVING_IMAGE
    assert svc["entrypoint"] == ["tensorflow_model_server"]
    assert f"{serving_defaults.GRPC_PORT}:{serving_defaults.GRPC_PORT}" in svc["ports"]
    assert f"{serving_defaults.REST_PORT}:{serving_defaults.REST_PORT}" in svc["ports"]
    mounts = {v["target"]: v for v in svc["volumes"]}
    config_path = f"/models/{serving_defaults.MODEL_CONFIG_FILENAME}"
    check_server_flags(svc["command"], config_path)
    # The config lives in the mounted serving root, where the rollout tool writes it.
    assert mounts["/models"]["source"].endswith("outputs/serving}")
    assert (
        rollout_settings.model_config_path(configs.REPO_ROOT / "outputs").parent.name == "serving"
    )
    mon_target = cli.build_parser().parse_args(svc["command"]).monitoring_config_file
    mon_source = mounts[str(mon_target)]["source"]
    assert (SERVING / mon_source).resolve() == (SERVING / "monitoring.config").resolve()
    prom = compose["services"]["prometheus"]
    prom_file = PurePosixPath(prom["volumes"][0]["source"])
    assert (SERVING / prom_file).resolve() == DEPLOY / "prometheus" / "prometheus.yml"


def test_k8s_deployment_service_hpa_configmap(k8s):
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= set(k8s)
    dep, svc, hpa, cm = (
        k8s[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap")
    )
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == serving_defaults.SERVING_IMAGE
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_path = f"{mounts['config']}/{serving_defaults.MODEL_CONFIG_FILENAME}"
    check_server_flags(container["args"], config_path)
    assert mounts["models"] == "/models"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": serving_defaults.GRPC_PORT, "http": serving_defaults.REST_PORT}
    assert container["readinessProbe"]["httpGet"]["path"] == f"/v1/models/{configs.MODEL_NAME}"
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/path"] == serving_defaults.PROMETHEUS_PATH
    assert notes["prometheus.io/port"] == str(serving_defaults.REST_PORT)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]

    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in svc["spec"]["ports"]} == {
        serving_defaults.GRPC_PORT,
        serving_defaults.REST_PORT,
    }
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]

    # Same model config as the compose setup; same monitoring path.
    seed = load_models_config((SERVING / serving_defaults.MODEL_CONFIG_FILENAME).read_text())
    assert load_models_config(cm["data"][serving_defaults.MODEL_CONFIG_FILENAME]) == seed
    mon = monitoring_config.parse(cm["data"]["monitoring.config"])
    assert mon.enabled and mon.path == serving_defaults.PROMETHEUS_PATH
    mon_flag = cli.build_parser().parse_args(container["args"]).monitoring_config_file
    assert str(mon_flag) == f"{mounts['config']}/monitoring.config"


def test_prometheus_scrapes_serving_and_the_canary_router():
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    serving = jobs["tf-serving"]
    assert serving["metrics_path"] == serving_defaults.PROMETHEUS_PATH
    assert serving["static_configs"][0]["targets"] == [f"tf-serving:{serving_defaults.REST_PORT}"]
    router = jobs["canary-router"]
    assert router["static_configs"][0]["targets"][0].endswith(
        f":{rollout_settings.ROUTER_REST_PORT}"
    )
    assert any(j.get("kubernetes_sd_configs") for j in jobs.values())


def test_our_server_accepts_the_production_config(tmp_path, tiny_models):
    """The seed models.config, with base_path pointed at a local dir, starts our server."""
    from serving.server import ModelServer
    from tests.serving.tiny_models import push

    text = (
        (SERVING / serving_defaults.MODEL_CONFIG_FILENAME)
        .read_text()
        .replace(f"/models/{configs.MODEL_NAME}", str(tmp_path / configs.MODEL_NAME))
    )
    push(tiny_models(1), tmp_path / configs.MODEL_NAME, 1)
    (tmp_path / "models.config").write_text(text)
    server = ModelServer(
        model_config_file=tmp_path / "models.config",
        grpc_port=0,
        rest_port=0,
        file_system_poll_seconds=0,
        allow_version_labels_for_unavailable_models=True,
    ).start()
    try:
        assert server.manager.available_versions() == {configs.MODEL_NAME: [1]}
        assert server.manager.labels(configs.MODEL_NAME) == {
            rollout_settings.STABLE_LABEL: 1,
            rollout_settings.CANARY_LABEL: 2,
        }
    finally:
        server.stop(grace=1)


def test_k8s_liveness_is_the_native_grpc_probe_on_the_health_service(k8s):
    (container,) = k8s["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert cli.build_parser().parse_args(container["args"]).enable_grpc_healthcheck_service
    assert container["livenessProbe"]["grpc"]["port"] == serving_defaults.GRPC_PORT
    canary = [
        doc
        for doc in yaml.safe_load_all((DEPLOY / "k8s-canary" / "serving.yaml").read_text())
        if doc["kind"] == "Deployment"
    ]
    assert len(canary) == 2
    for deployment in canary:
        (track,) = deployment["spec"]["template"]["spec"]["containers"]
        assert cli.build_parser().parse_args(track["args"]).enable_grpc_healthcheck_service
        assert track["livenessProbe"]["grpc"]["port"] == serving_defaults.GRPC_PORT


def test_the_tls_overlay_mounts_the_secret_its_flag_names(k8s):
    overlay = SERVING / "k8s-tls"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["../k8s"]
    (secret,) = kustomization["secretGenerator"]
    assert secret["files"] == ["ssl.config"]
    (patch_ref,) = kustomization["patches"]
    deployment = k8s["Deployment"]
    assert patch_ref["target"] == {"kind": "Deployment", "name": deployment["metadata"]["name"]}
    ops = yaml.safe_load((overlay / patch_ref["path"]).read_text())
    by_path = {op["path"]: op for op in ops}
    container = "/spec/template/spec/containers/0"
    arg = by_path[f"{container}/args/-"]["value"]
    (base,) = deployment["spec"]["template"]["spec"]["containers"]
    flags = cli.build_parser().parse_args([*base["args"], arg])
    ssl_path = PurePosixPath(flags.ssl_config_file)
    mount = by_path[f"{container}/volumeMounts/-"]["value"]
    assert PurePosixPath(mount["mountPath"]) == ssl_path.parent and mount["readOnly"]
    volume = by_path["/spec/template/spec/volumes/-"]["value"]
    assert volume["name"] == mount["name"]
    assert volume["secret"]["secretName"] == secret["name"] and ssl_path.name == "ssl.config"
    # Native gRPC probes cannot do TLS: the TLS port is probed over TCP.
    probe = by_path[f"{container}/livenessProbe"]
    assert probe["op"] == "replace" and probe["value"]["tcpSocket"]["port"] == "grpc"
    assert "livenessProbe" in base  # a replace needs something to replace
    ignored = (configs.REPO_ROOT / ".gitignore").read_text().splitlines()
    assert "deploy/serving/k8s-tls/ssl.config" in ignored


def test_serving_tls_writes_an_ssl_config_the_server_accepts(tmp_path, capsys):
    from serving import tls
    from tests.serving.certs import Authority

    ca = Authority()
    cert, key = ca.server().write(tmp_path, "server")
    ca_cert, _ = ca.pem.write(tmp_path, "ca")
    argv = ["--server_key", str(key), "--server_cert", str(cert), "--custom_ca", str(ca_cert)]
    assert tls.main([*argv, "--client_verify"]) == 0
    config = tmp_path / "ssl.config"
    config.write_text(capsys.readouterr().out)
    settings = tls.load_ssl_config(config)
    assert settings.client_verify and settings.server_cert == cert.read_bytes()
    assert tls.main(["--server_key", str(cert), "--server_cert", str(cert)]) == 2
    assert "server_key" in capsys.readouterr().err
