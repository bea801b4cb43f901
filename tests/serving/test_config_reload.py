"""The model config file: labels moved by rewriting it (atomically, as the rollout tool does)
take effect at the next poll; a broken or inconsistent config keeps the previous one."""

from __future__ import annotations

import os

import grpc
import pytest
import requests

from models import features
from pipeline import configs
from rollout import settings as rollout_settings
from serving import defaults as serving_defaults
from serving import model_config
from serving.model_config import ModelEntry
from serving.servable import END
from serving.server import StartupError
from serving.version_policy import ALL, SPECIFIC, VersionPolicy
from tests.serving.helpers import MODEL_LOAD_TIMEOUT, GrpcClient, sample_images
from tests.serving.tiny_models import push
from tests.support.waiting import wait_until

MODEL = configs.MODEL_NAME
IMG = sample_images(2)


def write_config(path, base, labels: dict[str, int], policy=None, extra=None) -> None:
    """Write temp + os.replace, like the rollout tool."""
    entries = {
        MODEL: ModelEntry(
            MODEL, base, policy or VersionPolicy(SPECIFIC, versions=frozenset({1, 2})), labels
        )
    }
    entries.update(extra or {})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(model_config.to_text(entries))
    os.replace(tmp, path)


def served_by(client: GrpcClient, label: str) -> int | None:
    try:
        resp = client.predict(
            MODEL, {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES, label=label
        )
    except grpc.RpcError as err:
        # TF Serving: an unknown label is INVALID_ARGUMENT, a known one on an unloaded
        # version NOT_FOUND.
        assert err.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT), err
        return None
    return resp.model_spec.version.value


@pytest.fixture
def labelled(tiny_base, tmp_path, start_server):
    base = tiny_base(1, 2)
    config = tmp_path / "models" / serving_defaults.MODEL_CONFIG_FILENAME
    write_config(config, base, {rollout_settings.STABLE_LABEL: 1, rollout_settings.CANARY_LABEL: 2})
    server = start_server(model_config_file=config)
    client = GrpcClient(server.grpc_target)
    yield server, client, config, base
    client.close()


def test_labels_route_and_move_after_the_poll(labelled):
    server, client, config, base = labelled
    assert served_by(client, rollout_settings.STABLE_LABEL) == 1
    assert served_by(client, rollout_settings.CANARY_LABEL) == 2
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/labels/canary/metadata", timeout=30)
    assert r.json()["model_spec"]["version"] == "2"

    write_config(config, base, {rollout_settings.STABLE_LABEL: 2, rollout_settings.CANARY_LABEL: 1})
    wait_until(lambda: served_by(client, rollout_settings.STABLE_LABEL) == 2, what="stable -> 2")
    assert served_by(client, rollout_settings.CANARY_LABEL) == 1
    body = {"signature_name": features.SIGNATURE_IMAGES, "instances": IMG.tolist()}
    r = requests.post(
        f"{server.rest_url}/v1/models/{MODEL}/labels/stable:predict", json=body, timeout=30
    )
    assert [p["class_ids"] for p in r.json()["predictions"]] == [2, 2]


def test_broken_config_keeps_the_previous_one(labelled, caplog):
    server, client, config, base = labelled
    config.write_text("model_config_list { config { name: ")  # truncated / garbage
    wait_until(lambda: "rejected" in caplog.text, what="the error to be logged")
    assert served_by(client, rollout_settings.STABLE_LABEL) == 1
    assert server.manager.available_versions() == {MODEL: [1, 2]}
    # Fixed again: picked up.
    write_config(config, base, {rollout_settings.STABLE_LABEL: 2})
    wait_until(lambda: served_by(client, rollout_settings.STABLE_LABEL) == 2, what="fixed config")
    assert served_by(client, rollout_settings.CANARY_LABEL) is None  # label removed


def test_label_on_unavailable_version_is_rejected(labelled, caplog):
    server, client, config, base = labelled
    write_config(config, base, {rollout_settings.STABLE_LABEL: 1, rollout_settings.CANARY_LABEL: 7})
    wait_until(lambda: "not available" in caplog.text, what="rejection")
    assert server.manager.labels(MODEL) == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }
    assert served_by(client, rollout_settings.CANARY_LABEL) == 2


def test_policy_change_in_config_unloads(labelled):
    server, client, config, base = labelled
    write_config(
        config,
        base,
        {rollout_settings.STABLE_LABEL: 2},
        policy=VersionPolicy(SPECIFIC, versions=frozenset({2})),
    )
    wait_until(lambda: server.manager.available_versions() == {MODEL: [2]}, what="v1 unloaded")
    wait_until(lambda: server.manager.status(MODEL, 1)[0].state == END, what="v1 END")
    status = requests.get(f"{server.rest_url}/v1/models/{MODEL}", timeout=30).json()
    assert {s["version"]: s["state"] for s in status["model_version_status"]} == {
        "2": "AVAILABLE",
        "1": "END",
    }


def test_startup_rejects_labels_on_unavailable_versions(tiny_base, tmp_path, start_server):
    base = tiny_base(1)
    config = tmp_path / "bad.config"
    write_config(config, base, {rollout_settings.CANARY_LABEL: 2})
    with pytest.raises(StartupError, match="not available"):
        start_server(model_config_file=config)


def test_allow_labels_for_unavailable_models(tiny_base, tiny_models, tmp_path, start_server):
    base = tiny_base(1)
    config = tmp_path / "models.config"
    write_config(
        config,
        base,
        {rollout_settings.STABLE_LABEL: 1, rollout_settings.CANARY_LABEL: 3},
        policy=VersionPolicy(ALL),
    )
    server = start_server(
        model_config_file=config, allow_version_labels_for_unavailable_models=True
    )
    client = GrpcClient(server.grpc_target)
    assert served_by(client, rollout_settings.CANARY_LABEL) is None  # NOT_FOUND until loaded
    r = requests.get(f"{server.rest_url}/v1/models/{MODEL}/labels/canary/metadata", timeout=30)
    assert r.status_code == 404
    push(tiny_models(3), base, 3)
    wait_until(
        lambda: served_by(client, rollout_settings.CANARY_LABEL) == 3,
        what="v3 under canary",
        timeout=MODEL_LOAD_TIMEOUT,
    )
    assert served_by(client, rollout_settings.STABLE_LABEL) == 1
    client.close()


def test_models_added_and_removed_by_config(tiny_base, tiny_models, tmp_path, start_server):
    base = tiny_base(1, 2)
    other = tmp_path / "other"
    push(tiny_models(5), other, 5)
    config = tmp_path / "models.config"
    write_config(config, base, {})
    server = start_server(model_config_file=config)
    assert server.manager.model_names() == [MODEL]
    write_config(config, base, {}, extra={"other": ModelEntry("other", other)})
    wait_until(
        lambda: server.manager.available_versions().get("other") == [5],
        what="other",
        timeout=MODEL_LOAD_TIMEOUT,
    )
    client = GrpcClient(server.grpc_target)
    resp = client.predict(
        "other", {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES
    )
    assert resp.model_spec.version.value == 5
    write_config(config, other, {}, policy=VersionPolicy())  # cifar10 now points at "other"
    wait_until(
        lambda: server.manager.available_versions() == {MODEL: [5]},
        what="swap",
        timeout=MODEL_LOAD_TIMEOUT,
    )
    with pytest.raises(grpc.RpcError) as info:
        client.predict("other", {features.INPUT_IMAGES: IMG}, signature=features.SIGNATURE_IMAGES)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    client.close()
