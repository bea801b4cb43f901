"""Offline schema check of Kubernetes manifests against the `kubernetes` client's models.

No Kubernetes JSON schema is vendored by check-jsonschema and the tests have no network, but
the official Python client (in the venv through apache-airflow[cncf.kubernetes]) is
generated from the Kubernetes OpenAPI spec: every model class lists its fields
(``attribute_map``: python name -> JSON name) and their types (``openapi_types``). Walking a
manifest against them catches misspelled or misplaced fields and wrong scalar types, and
building the model objects runs the client's own required-field checks.
"""

from __future__ import annotations

import re
from typing import Any

import kubernetes.client as k8s

# apiVersion/kind -> model class name, for every built-in kind the deploy files use.
KINDS: dict[tuple[str, str], str] = {
    ("v1", "Service"): "V1Service",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Namespace"): "V1Namespace",
    ("apps/v1", "StatefulSet"): "V1StatefulSet",
    ("apps/v1", "DaemonSet"): "V1DaemonSet",
    ("networking.k8s.io/v1", "Ingress"): "V1Ingress",
    ("policy/v1", "PodDisruptionBudget"): "V1PodDisruptionBudget",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("batch/v1", "Job"): "V1Job",
    ("batch/v1", "CronJob"): "V1CronJob",
    ("autoscaling/v2", "HorizontalPodAutoscaler"): "V2HorizontalPodAutoscaler",
}

_LIST = re.compile(r"list\[(.+)\]")
_DICT = re.compile(r"dict\(([^,]+), (.+)\)")


def _scalar_ok(type_name: str, value: Any) -> bool:
    if type_name == "str":
        return isinstance(value, str)
    if type_name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_name == "bool":
        return isinstance(value, bool)
    if type_name == "datetime":
        return isinstance(value, str)
    return type_name == "object"  # IntOrString, Quantity in some places, free-form


def check(type_name: str, value: Any, where: str = "") -> list[str]:
    """Problems of ``value`` against the client type ``type_name`` (e.g. 'V1PodSpec')."""
    if value is None:
        return []
    if m := _LIST.fullmatch(type_name):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, item in enumerate(value) for p in check(m[1], item, f"{where}[{i}]")]
    if m := _DICT.fullmatch(type_name):
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping, got {type(value).__name__}"]
        return [p for k, item in value.items() for p in check(m[2], item, f"{where}.{k}")]
    model = getattr(k8s, type_name, None)
    if model is None:
        return (
            []
            if _scalar_ok(type_name, value)
            else [f"{where}: expected {type_name}, got {type(value).__name__} {value!r}"]
        )
    if not isinstance(value, dict):
        return [f"{where}: expected a {type_name} mapping, got {type(value).__name__}"]
    by_json = {json: py for py, json in model.attribute_map.items()}
    problems = []
    for key, item in value.items():
        if key not in by_json:
            problems.append(
                f"{where}.{key}: unknown field of {type_name} (known: {', '.join(sorted(by_json))})"
            )
            continue
        problems += check(model.openapi_types[by_json[key]], item, f"{where}.{key}")
    return problems


def build(type_name: str, value: Any) -> Any:
    """The client object for ``value``; its setters raise ValueError on a missing required
    field (e.g. a container without ``name``)."""
    if value is None:
        return None
    if m := _LIST.fullmatch(type_name):
        return [build(m[1], item) for item in value]
    if m := _DICT.fullmatch(type_name):
        return {k: build(m[2], item) for k, item in value.items()}
    model = getattr(k8s, type_name, None)
    if model is None:
        return value
    by_json = {json: py for py, json in model.attribute_map.items()}
    return model(
        **{by_json[k]: build(model.openapi_types[by_json[k]], v) for k, v in value.items()}
    )


def validate(manifest: dict[str, Any]) -> list[str]:
    """Problems of one manifest; an unknown apiVersion/kind is itself a problem."""
    key = (manifest.get("apiVersion"), manifest.get("kind"))
    name = (manifest.get("metadata") or {}).get("name", "?")
    if key not in KINDS:
        return [f"{key[0]}/{key[1]} {name}: no model for this kind"]
    problems = [f"{key[1]}/{name}{p}" for p in check(KINDS[key], manifest)]
    if not problems:
        try:
            build(KINDS[key], manifest)
        except ValueError as e:
            problems.append(f"{key[1]}/{name}: {e}")
    return problems
