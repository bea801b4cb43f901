"""Real linters and schema checks over the deploy files, all offline.

yamllint (every YAML file, the repo's .yamllint), hadolint (every Dockerfile),
check-jsonschema with its vendored compose-spec (both compose files), the Kubernetes
client's OpenAPI-generated models (every built-in manifest, tests/deploy/lint_k8s_models.py),
and JSON schemas written here for the Istio resources and the Airflow chart values this
repository uses. Each linter also gets a deliberately broken file, so a linter that silently
does nothing cannot pass.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy import lint_k8s_models

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DEPLOY = REPO / "deploy"
SKIP_DIRS = {".venv", ".git", "outputs", "node_modules"}


def tool(name: str) -> str:
    """A linter from the dev extras (.venv/bin); missing means the venv is incomplete."""
    path = BIN / name
    assert path.is_file(), f"{path} missing: scripts/bootstrap.sh dev installs it"
    return str(path)


def run(*cmd: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def repo_files(*patterns: str) -> list[Path]:
    found = {
        p
        for pattern in patterns
        for p in REPO.rglob(pattern)
        if not SKIP_DIRS & set(p.relative_to(REPO).parts)
    }
    return sorted(found)


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]


@functools.cache
def manifests() -> tuple[tuple[Path, dict[str, Any]], ...]:
    """Every Kubernetes object under deploy/ (Kustomizations, compose and Helm values left
    out: they are not API objects). Parsed once per session; tests that mutate a manifest
    load their own copy."""
    out = []
    for path in repo_files("*.yaml", "*.yml"):
        if DEPLOY not in path.parents:
            continue
        for doc in yaml_documents(path):
            if "apiVersion" in doc and "kind" in doc and doc["kind"] != "Kustomization":
                out.append((path, doc))
    return tuple(out)


# --- yamllint ------------------------------------------------------------------------------


def test_yamllint_passes_on_every_yaml_file():
    assert (REPO / ".yamllint").is_file()
    result = run(tool("yamllint"), "--strict", "-f", "parsable", ".")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(repo_files("*.yaml", "*.yml")) >= 20, "yamllint should have files to check"


def test_yamllint_rejects_a_broken_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("key: 1\nkey: 2\nlist:\n  - a\n   - b\n")
    result = run(tool("yamllint"), "-c", str(REPO / ".yamllint"), "-f", "parsable", str(bad))
    assert result.returncode != 0
    assert "duplication of key" in result.stdout or "syntax error" in result.stdout


# --- hadolint ------------------------------------------------------------------------------


def dockerfiles() -> list[Path]:
    return [
        p
        for p in repo_files("Dockerfile", "Dockerfile.*", "*.Dockerfile")
        if p.suffix != ".dockerignore"
    ]


def test_hadolint_passes_on_every_dockerfile():
    files = dockerfiles()
    assert {p.relative_to(REPO).as_posix() for p in files} >= {
        "deploy/airflow/Dockerfile",
        "deploy/serving/Dockerfile",
    }
    result = run(tool("hadolint"), "--no-color", *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian:latest\nRUN apt-get install curl\nCMD curl example.org\n")
    result = run(tool("hadolint"), "--no-color", str(bad), cwd=tmp_path)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3015", "DL3025"):  # latest tag, unpinned, no -y...
        assert rule in result.stdout, (rule, result.stdout)


# --- docker compose: the compose-spec schema vendored by check-jsonschema ------------------

COMPOSE_FILES = [
    DEPLOY / "airflow" / "docker-compose.yaml",
    DEPLOY / "serving" / "docker-compose.yaml",
]


def check_compose(*paths: Path) -> subprocess.CompletedProcess[str]:
    return run(
        tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *map(str, paths)
    )


def test_compose_files_match_the_compose_spec():
    assert sorted(COMPOSE_FILES) == [p for p in repo_files("docker-compose.y*ml", "compose.y*ml")]
    result = check_compose(*COMPOSE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_spec_rejects_a_broken_file(tmp_path):
    bad = tmp_path / "docker-compose.yaml"
    bad.write_text(
        "services:\n  web:\n    image: nginx:1.27\n    restart: sometimes\n    prots: ['80:80']\n"
    )
    result = check_compose(bad)
    assert result.returncode != 0
    assert "prots" in result.stdout + result.stderr


# --- Kubernetes built-in kinds: the client's OpenAPI models ---------------------------------


def test_every_kubernetes_manifest_matches_the_api_models():
    checked = [
        (p, d) for p, d in manifests() if (d["apiVersion"], d["kind"]) in lint_k8s_models.KINDS
    ]
    kinds = {d["kind"] for _, d in checked}
    assert {"Deployment", "Service", "ConfigMap", "HorizontalPodAutoscaler", "Job"} <= kinds
    problems = [
        f"{p.relative_to(REPO)}: {msg}" for p, d in checked for msg in lint_k8s_models.validate(d)
    ]
    assert not problems, "\n".join(problems)


def test_every_manifest_kind_has_a_schema():
    known = set(lint_k8s_models.KINDS) | set(ISTIO_SCHEMAS)
    unknown = {(d["apiVersion"], d["kind"]) for _, d in manifests()} - known
    assert not unknown, f"add a schema for {unknown}"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["spec"].update(replica=3), "spec.replica: unknown field"),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
                ports=[{"containerPort": "8500"}]
            ),
            "containerPort: expected int",
        ),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
            "`name`, must not be `None`",
        ),
    ],
)
def test_kubernetes_models_reject_broken_manifests(mutate, expected):
    (deployment,) = [d for d in yaml_documents(DEPLOY / "serving" / "k8s" / "deployment.yaml")]
    mutate(deployment)
    problems = lint_k8s_models.validate(deployment)
    assert any(expected in p for p in problems), problems


def test_kustomizations_list_existing_files():
    for kustomization in repo_files("kustomization.yaml"):
        (doc,) = yaml_documents(kustomization)
        assert doc["kind"] == "Kustomization"
        assert set(doc) <= {
            "apiVersion",
            "kind",
            "resources",
            "images",
            "namespace",
            "labels",
            "patches",
            "configMapGenerator",
            "secretGenerator",
        }
        for resource in doc["resources"]:  # a file, or a base's folder (an overlay)
            assert (kustomization.parent / resource).exists(), (kustomization, resource)


# --- Istio resources (CRDs: no model in the client) ----------------------------------------
# The fields of networking.istio.io/v1beta1 that these files use, from Istio's API reference;
# unknown fields are rejected, so a misspelled key cannot slip through.

_STR = {"type": "string"}
_LABELS = {"type": "object", "additionalProperties": _STR}
_DESTINATION = {
    "type": "object",
    "additionalProperties": False,
    "required": ["host"],
    "properties": {
        "host": _STR,
        "subset": _STR,
        "port": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"number": {"type": "integer", "minimum": 1}},
        },
    },
}
_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STR, "namespace": _STR, "labels": _LABELS, "annotations": _LABELS},
    "additionalProperties": False,
}


def _resource(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "networking.istio.io/v1beta1"},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


VIRTUAL_SERVICE = _resource(
    "VirtualService",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["hosts"],
        "properties": {
            "hosts": {"type": "array", "items": _STR, "minItems": 1},
            "gateways": {"type": "array", "items": _STR},
            "exportTo": {"type": "array", "items": _STR},
            "http": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["route"],
                    "properties": {
                        "name": _STR,
                        "match": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "name": _STR,
                                    "port": {"type": "integer"},
                                    "uri": {"type": "object"},
                                    "headers": {"type": "object"},
                                    "sourceLabels": _LABELS,
                                },
                            },
                        },
                        "route": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["destination"],
                                "properties": {
                                    "destination": _DESTINATION,
                                    "weight": {"type": "integer", "minimum": 0, "maximum": 100},
                                    "headers": {"type": "object"},
                                },
                            },
                        },
                        "timeout": _STR,
                        "retries": {"type": "object"},
                    },
                },
            },
        },
    },
)

DESTINATION_RULE = _resource(
    "DestinationRule",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["host"],
        "properties": {
            "host": _STR,
            "exportTo": {"type": "array", "items": _STR},
            "trafficPolicy": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "loadBalancer": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "simple": {
                                "enum": [
                                    "UNSPECIFIED",
                                    "RANDOM",
                                    "PASSTHROUGH",
                                    "ROUND_ROBIN",
                                    "LEAST_REQUEST",
                                    "LEAST_CONN",
                                ]
                            },
                            "consistentHash": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "httpHeaderName": _STR,
                                    "httpCookie": {"type": "object"},
                                    "useSourceIp": {"type": "boolean"},
                                    "httpQueryParameterName": _STR,
                                    "minimumRingSize": {"type": "integer"},
                                },
                            },
                        },
                    },
                    "connectionPool": {"type": "object"},
                    "outlierDetection": {"type": "object"},
                    "tls": {"type": "object"},
                },
            },
            "subsets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {
                        "name": _STR,
                        "labels": _LABELS,
                        "trafficPolicy": {"type": "object"},
                    },
                },
            },
        },
    },
)

ISTIO_SCHEMAS = {
    ("networking.istio.io/v1beta1", "VirtualService"): VIRTUAL_SERVICE,
    ("networking.istio.io/v1beta1", "DestinationRule"): DESTINATION_RULE,
}


def istio_errors(doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(ISTIO_SCHEMAS[doc["apiVersion"], doc["kind"]])
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def test_istio_resources_match_their_schema():
    checked = [(p, d) for p, d in manifests() if (d["apiVersion"], d["kind"]) in ISTIO_SCHEMAS]
    assert len(checked) >= 5  # istio.yaml (2) + one VirtualService per weight step
    problems = [f"{p.relative_to(REPO)}: {e}" for p, d in checked for e in istio_errors(d)]
    assert not problems, "\n".join(problems)


def test_istio_schema_rejects_a_misspelled_field():
    doc = yaml_documents(DEPLOY / "k8s-canary" / "istio.yaml")[0]
    doc["spec"]["trafficPolicy"]["loadBalancer"]["consistentHash"] = {"httpHeader": "x"}
    assert any("httpHeader" in e for e in istio_errors(doc))


# --- Helm values of the official Airflow chart ---------------------------------------------
# The chart's own values.schema.json is not available offline; this is the part of it that
# deploy/airflow/values.yaml uses (names and types from the chart's values reference), with
# the Kubernetes sub-trees (env, volumes, mounts, resources) checked by the API models.

HELM_TOP_LEVEL = {
    "airflowVersion",
    "defaultAirflowRepository",
    "defaultAirflowTag",
    "images",
    "executor",
    "postgresql",
    "fernetKey",
    "fernetKeySecretName",
    "webserverSecretKey",
    "webserverSecretKeySecretName",
    "env",
    "extraEnv",
    "extraEnvFrom",
    "secret",
    "volumes",
    "volumeMounts",
    "config",
    "dags",
    "workers",
    "scheduler",
    "webserver",
    "triggerer",
    "redis",
    "data",
    "ingress",
    "logs",
    "statsd",
    "pgbouncer",
    "createUserJob",
    "migrateDatabaseJob",
    "nodeSelector",
    "affinity",
    "tolerations",
    "labels",
    "uid",
    "gid",
    "securityContexts",
    "airflowHome",
    "dagProcessor",
    "flower",
    "cleanup",
    "networkPolicies",
}
_NULLABLE_STR = {"type": ["string", "null"]}
_RESOURCES_HOLDER = {"type": "object", "properties": {"resources": {"type": "object"}}}
HELM_VALUES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "patternProperties": {"^(" + "|".join(sorted(HELM_TOP_LEVEL)) + ")$": {}},
    "properties": {
        "airflowVersion": _STR,
        "defaultAirflowRepository": _STR,
        "defaultAirflowTag": _STR,
        "images": {
            "type": "object",
            "properties": {
                "airflow": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "repository": _NULLABLE_STR,
                        "tag": _NULLABLE_STR,
                        "digest": _NULLABLE_STR,
                        "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                    },
                }
            },
        },
        "executor": {
            "enum": [
                "LocalExecutor",
                "LocalKubernetesExecutor",
                "CeleryExecutor",
                "KubernetesExecutor",
                "CeleryKubernetesExecutor",
            ]
        },
        "postgresql": {"type": "object", "properties": {"enabled": {"type": "boolean"}}},
        "fernetKey": _NULLABLE_STR,
        "webserverSecretKey": _NULLABLE_STR,
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "value"],
                "properties": {"name": _STR, "value": _STR},
            },
        },
        "config": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": ["string", "integer", "boolean", "number"]},
            },
        },
        "dags": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "persistence": {"type": "object"},
                "gitSync": {"type": "object"},
                "mountPath": _STR,
            },
        },
        "workers": _RESOURCES_HOLDER,
        "scheduler": _RESOURCES_HOLDER,
        "webserver": {
            "type": "object",
            "properties": {
                "service": {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                        "ports": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["name", "port"],
                                "properties": {
                                    "name": _STR,
                                    "port": {"type": ["integer", "string"]},
                                },
                            },
                        },
                    },
                }
            },
        },
    },
}


def helm_values_errors(values: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft202012Validator(HELM_VALUES_SCHEMA)
    errors = [
        f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
        for e in validator.iter_errors(values)
    ]
    k8s_parts = {
        "volumes": "list[V1Volume]",
        "volumeMounts": "list[V1VolumeMount]",
        "env": "list[V1EnvVar]",
    }
    for key, type_name in k8s_parts.items():
        errors += lint_k8s_models.check(type_name, values.get(key), key)
    for component in ("workers", "scheduler", "webserver", "triggerer"):
        resources = (values.get(component) or {}).get("resources")
        errors += lint_k8s_models.check(
            "V1ResourceRequirements", resources, f"{component}.resources"
        )
    return errors


def test_airflow_helm_values_match_the_chart_schema():
    values = yaml.safe_load((DEPLOY / "airflow" / "values.yaml").read_text())
    assert helm_values_errors(values) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda v: v.update(exector="KubernetesExecutor"), "exector"),
        (lambda v: v.update(executor="KubernetesExecuter"), "KubernetesExecuter"),
        (lambda v: v["volumeMounts"][0].update(mount_path="/data"), "mount_path: unknown field"),
        (lambda v: v["workers"]["resources"].update(request={"cpu": "1"}), "request: unknown"),
    ],
)
def test_helm_values_schema_rejects_broken_values(mutate, expected):
    values = yaml.safe_load((DEPLOY / "airflow" / "values.yaml").read_text())
    mutate(values)
    assert any(expected in e for e in helm_values_errors(values))
