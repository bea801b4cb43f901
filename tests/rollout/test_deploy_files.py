"""deploy/k8s-canary/ agrees with the router, the policy, the manager and pipeline/configs."""

from __future__ import annotations

import re

import pytest
import yaml

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import k8s, model_config
from rollout.canary.manager import RolloutManager
from rollout.policy import load_policy
from serving import defaults as serving_defaults
from tests.rollout.conftest import fake_versions

DEPLOY = configs.REPO_ROOT / "deploy" / "k8s-canary"


def documents(name: str) -> dict[tuple[str, str], dict]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def split_of(virtual_service: dict) -> dict[int, dict[str, int]]:
    """port -> {subset: weight} of a VirtualService."""
    out = {}
    for rule in virtual_service["spec"]["http"]:
        (match,) = rule["match"]
        out[match["port"]] = {r["destination"]["subset"]: r["weight"] for r in rule["route"]}
    return out


def test_every_policy_weight_step_has_a_matching_weight_file():
    policy = load_policy()
    files = sorted(p.name for p in (DEPLOY / "weights").glob("*.yaml"))
    assert files == sorted(f"step-{w}.yaml" for w in policy.weight_steps)
    for weight in policy.weight_steps:
        vs = yaml.safe_load(k8s.weight_file(weight).read_text())
        assert vs == k8s.virtual_service(weight)  # generated, not hand-edited
        for port, shares in split_of(vs).items():
            assert port in (serving_defaults.GRPC_PORT, serving_defaults.REST_PORT)
            assert shares == {
                rollout_settings.STABLE_LABEL: 100 - weight,
                rollout_settings.CANARY_LABEL: weight,
            }


def test_istio_starts_at_the_first_step_with_subsets_named_after_the_labels():
    docs = documents("istio.yaml")
    vs = docs[("VirtualService", k8s.SERVICE)]
    first = load_policy().weight_steps[0]
    assert split_of(vs)[serving_defaults.REST_PORT][rollout_settings.CANARY_LABEL] == first
    rule = docs[("DestinationRule", k8s.SERVICE)]["spec"]
    assert {s["name"]: s["labels"] for s in rule["subsets"]} == {
        label: {k8s.TRACK_LABEL: label}
        for label in (rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL)
    }
    assert (
        rule["trafficPolicy"]["loadBalancer"]["consistentHash"]["httpHeaderName"]
        == rollout_settings.CLIENT_KEY_HEADER
    )


@pytest.mark.parametrize("track", [rollout_settings.STABLE_LABEL, rollout_settings.CANARY_LABEL])
def test_each_track_deployment_serves_the_config_file_the_manager_writes(track, tmp_path):
    docs = documents("serving.yaml")
    deployment = docs[("Deployment", f"{k8s.SERVICE}-{track}")]
    assert deployment["spec"]["template"]["metadata"]["labels"][k8s.TRACK_LABEL] == track
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == serving_defaults.SERVING_IMAGE
    args = dict(
        a.lstrip("-").split("=", 1) if "=" in a else (a.lstrip("-"), "") for a in container["args"]
    )
    assert int(args["port"]) == serving_defaults.GRPC_PORT
    assert int(args["rest_api_port"]) == serving_defaults.REST_PORT
    config_name = args["model_config_file"].rsplit("/", 1)[1]
    assert config_name == model_config.track_config_filename(track)
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == serving_defaults.PROMETHEUS_PATH
    # The manager writes exactly that file, with this track's version under its label.
    fake_versions(tmp_path, 4, 5)
    manager = RolloutManager(tmp_path, load_policy())
    manager.init(4)
    manager.start(5)
    written = model_config.read(manager.config_path.with_name(config_name))
    assert written.labels == {track: 4 if track == rollout_settings.STABLE_LABEL else 5}
    assert written.versions == [written.labels[track]]


def test_services_and_router_use_the_configured_ports_and_paths():
    serving = documents("serving.yaml")[("Service", k8s.SERVICE)]
    assert {p["name"]: p["port"] for p in serving["spec"]["ports"]} == {
        "grpc": serving_defaults.GRPC_PORT,
        "http": serving_defaults.REST_PORT,
    }
    router_docs = documents("router.yaml")
    ports = {
        p["name"]: p["port"] for p in router_docs[("Service", "cifar10-router")]["spec"]["ports"]
    }
    assert ports == {
        "grpc": rollout_settings.ROUTER_GRPC_PORT,
        "http": rollout_settings.ROUTER_REST_PORT,
    }
    (container,) = router_docs[("Deployment", "cifar10-router")]["spec"]["template"]["spec"][
        "containers"
    ]
    args = " ".join(container["args"])
    assert container["command"] == ["cifar10-rollout"] and "route" in container["args"]
    assert f"--rest-port={rollout_settings.ROUTER_REST_PORT}" in args
    assert f"--grpc-port={rollout_settings.ROUTER_GRPC_PORT}" in args
    assert f"--upstream-rest=http://{k8s.SERVICE}:{serving_defaults.REST_PORT}" in args
    assert f"--upstream-grpc={k8s.SERVICE}:{serving_defaults.GRPC_PORT}" in args
    assert container["readinessProbe"]["httpGet"]["path"] == serving_defaults.PROMETHEUS_PATH
    # and the router CLI accepts exactly those arguments
    from rollout.cli import build_parser

    parsed = build_parser().parse_args(container["args"])
    assert (parsed.command, parsed.rest_port, parsed.grpc_port) == (
        "route",
        rollout_settings.ROUTER_REST_PORT,
        rollout_settings.ROUTER_GRPC_PORT,
    )


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    manifests = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests
    assert all(re.fullmatch(r"[a-z-]+\.yaml", name) for name in manifests)
