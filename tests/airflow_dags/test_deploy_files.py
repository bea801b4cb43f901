"""deploy/airflow/ agrees with the code: image, DAG folder, env var names, timeouts, ports.

No container engine runs here; these parse the files and compare them with the project."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from airflow_dags import cifar10_airflow_settings as settings
from ingest import settings as ingest_settings
from pipeline import configs
from tests.airflow_dags.conftest import DAGS_FOLDER, SCRIPT

DEPLOY = configs.REPO_ROOT / "deploy" / "airflow"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-webserver",
    "airflow-scheduler",
    "airflow-worker",
    "airflow-triggerer",
)
WEBSERVER_PORT = 8080


def dockerfile_env() -> dict[str, str]:
    """``ENV`` settings of the Dockerfile (``KEY=value`` form, continuation lines joined)."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"(\w+)=(\S+)", line))
    return env


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load((DEPLOY / "values.yaml").read_text())


def locked_airflow_version() -> str:
    (version,) = re.findall(
        r"^apache-airflow==(\S+)$", (configs.REPO_ROOT / "constraints.txt").read_text(), re.M
    )
    return version


def test_dockerfile_builds_the_locked_project_on_python_310():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.10[-\w.]*$", text, re.M)
    assert "-r constraints.txt" in text and '-e ".[airflow]"' in text
    assert f"-t {settings.PIPELINE_IMAGE} ." in text, "the build command names the image"
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    assert {".venv", ".git", "outputs"} <= set(ignored), "keep the venv out of the context"


def test_dockerfile_dag_folder_is_the_projects():
    env = dockerfile_env()
    workdir = re.search(
        r"^WORKDIR (/opt/\S+)\nCOPY constraints", (DEPLOY / "Dockerfile").read_text(), re.M
    ).group(1)
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == f"{workdir}/{DAGS_FOLDER.name}"
    assert int(env["AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT"]) >= (
        settings.DAGBAG_IMPORT_TIMEOUT_SECONDS
    )
    assert env["TF_USE_LEGACY_KERAS"] == "1"


def test_compose_services_run_the_pipeline_image(compose):
    services = compose["services"]
    assert {"postgres", *AIRFLOW_SERVICES} <= set(services)
    for name in AIRFLOW_SERVICES:
        assert services[name]["image"] == settings.PIPELINE_IMAGE, name
    assert f"{WEBSERVER_PORT}:{WEBSERVER_PORT}" in services["airflow-webserver"]["ports"]


def test_compose_airflow_config(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    postgres = compose["services"]["postgres"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    credentials = f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
    database = f"@postgres:5432/{postgres['POSTGRES_DB']}"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://{credentials}{database}"
    )
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == f"db+postgresql://{credentials}{database}"
    for key in (
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT",
        "AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT",
    ):
        assert int(env[key]) >= settings.DAGBAG_IMPORT_TIMEOUT_SECONDS, key
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == dockerfile_env()["AIRFLOW__CORE__DAGS_FOLDER"]
    assert set(settings.ENV_NAMES) <= set(env), "every setting the DAG reads is passed on"


def test_compose_is_airflows_celery_shape(compose):
    """Airflow's own compose file's shape: a Redis broker every Airflow process reaches, the
    scheduler queueing, N ``airflow celery worker`` containers taking tasks, a triggerer."""
    services = compose["services"]
    scheduler_env = services["airflow-scheduler"]["environment"]
    broker = urlparse(scheduler_env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname in services
    redis = services[broker.hostname]
    assert redis["image"].startswith("redis:")
    assert broker.port in redis["expose"]
    assert "redis-cli" in redis["healthcheck"]["test"]
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES[1:]}
    assert commands["airflow-worker"] == ["airflow", "celery", "worker"]
    assert commands["airflow-scheduler"] == ["airflow", "scheduler"]
    assert commands["airflow-triggerer"] == ["airflow", "triggerer"]
    module, name = scheduler_env["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"].rsplit(".", 1)
    config_file = DAGS_FOLDER / f"{module}.py"
    assert config_file.is_file(), "the Celery config module lives in the DAG folder"
    assert re.search(rf"^{name}\b.*=", config_file.read_text(), re.M), name
    worker = services["airflow-worker"]
    assert "inspect ping" in " ".join(worker["healthcheck"]["test"])
    assert "replicas" not in worker.get("deploy", {}), "scaled with --scale, not pinned"
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert {k: v for k, v in env.items() if k in scheduler_env} == scheduler_env, name
        assert services[name]["depends_on"][broker.hostname]["condition"] == "service_healthy"
        assert services[name]["volumes"] == services["airflow-scheduler"]["volumes"], name


def test_compose_mounts_this_dag_folder_and_the_output_root(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    mounts = dict(
        v.removesuffix(":ro").rsplit(":", 1)
        for v in compose["services"]["airflow-scheduler"]["volumes"]
    )
    dag_mount = next(src for src, dst in mounts.items() if dst == env["AIRFLOW__CORE__DAGS_FOLDER"])
    assert (DEPLOY / dag_mount).resolve() == DAGS_FOLDER
    assert any(env[configs.OUTPUT_ROOT_ENV] == dst for dst in mounts.values())
    data_mount = next(
        dst for dst in mounts.values() if env[ingest_settings.DATA_ROOT_ENV].startswith(dst + "/")
    )
    assert env[ingest_settings.DATA_ROOT_ENV] == f"{data_mount}/{ingest_settings.CIFAR10_DIRNAME}"


def test_helm_values_use_the_pipeline_image(values):
    image = values["images"]["airflow"]
    assert f"{image['repository']}:{image['tag']}" == settings.PIPELINE_IMAGE
    assert (
        f"{values['defaultAirflowRepository']}:{values['defaultAirflowTag']}"
        == settings.PIPELINE_IMAGE
    )
    assert values["airflowVersion"] == locked_airflow_version()
    assert values["executor"] in ("KubernetesExecutor", "CeleryExecutor")


def test_helm_values_airflow_config(values):
    core = values["config"]["core"]
    assert core["dags_folder"] == dockerfile_env()["AIRFLOW__CORE__DAGS_FOLDER"]
    assert core["dagbag_import_timeout"] >= settings.DAGBAG_IMPORT_TIMEOUT_SECONDS
    assert core["dag_file_processor_timeout"] >= settings.DAGBAG_IMPORT_TIMEOUT_SECONDS
    assert [p["port"] for p in values["webserver"]["service"]["ports"]] == [WEBSERVER_PORT]


def test_helm_values_env_and_volumes(values):
    env = {e["name"]: e["value"] for e in values["env"]}
    assert set(settings.ENV_NAMES) <= set(env)
    (mount,) = values["volumeMounts"]
    assert mount["name"] in {v["name"] for v in values["volumes"]}
    for name in (ingest_settings.DATA_ROOT_ENV, configs.OUTPUT_ROOT_ENV):
        assert Path(env[name]).is_relative_to(mount["mountPath"]), name


def test_local_script_raises_the_import_timeout_too():
    timeouts = re.findall(
        r"AIRFLOW__CORE__(?:DAGBAG_IMPORT|DAG_FILE_PROCESSOR)_TIMEOUT=(\d+)", SCRIPT.read_text()
    )
    assert len(timeouts) == 2
    assert all(int(t) >= settings.DAGBAG_IMPORT_TIMEOUT_SECONDS for t in timeouts)


def test_readme_names_the_commands():
    readme = (DEPLOY / "README.md").read_text()
    for text in (
        "docker build -f deploy/airflow/Dockerfile",
        settings.PIPELINE_IMAGE,
        "deploy/airflow/docker-compose.yaml",
        "deploy/airflow/values.yaml",
        "scripts/airflow_test.sh",
        *settings.ENV_NAMES,
    ):
        assert text in readme, text
