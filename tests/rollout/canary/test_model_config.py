"""The rollout's view of TF Serving's model config: labels and pinned versions, read and
written through serving/model_config.py (the one parser and writer, with TF Serving's checks)."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import configs
from rollout import settings as rollout_settings
from rollout.canary import model_config
from rollout.canary.model_config import ServedVersions
from serving import defaults as serving_defaults
from serving import model_config as serving_config


def test_render_is_a_tf_serving_model_config_with_pinned_versions_and_labels(tmp_path):
    text = model_config.render(ServedVersions(str(tmp_path), stable=3, canary=4))
    proto = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(text, proto)
    (model,) = proto.model_config_list.config
    assert model.name == configs.MODEL_NAME
    assert model.base_path == str(tmp_path)
    assert model.model_platform == "tensorflow"
    assert list(model.model_version_policy.specific.versions) == [3, 4]
    assert dict(model.version_labels) == {
        rollout_settings.STABLE_LABEL: 3,
        rollout_settings.CANARY_LABEL: 4,
    }


def test_read_round_trips(tmp_path):
    path = tmp_path / serving_defaults.MODEL_CONFIG_FILENAME
    served = ServedVersions("/models/cifar10", stable=7, canary=None)
    path.write_text(model_config.render(served))
    assert model_config.read(path) == served
    assert model_config.read(tmp_path / "absent") is None


def test_the_model_server_accepts_the_rendered_file(tmp_path):
    """The serving/ parser (same proto as TF Serving) reads our labels and versions."""
    text = model_config.render(ServedVersions(str(tmp_path), stable=1, canary=2))
    entry = serving_config.parse(text)[configs.MODEL_NAME]
    assert dict(entry.labels) == {
        rollout_settings.STABLE_LABEL: 1,
        rollout_settings.CANARY_LABEL: 2,
    }
    assert set(entry.policy.versions) == {1, 2}


@pytest.mark.parametrize(
    "entry, message",
    [
        (
            'name: "cifar10" base_path: "models/cifar10" model_platform: "tensorflow"',
            "absolute path",
        ),
        ('name: "cifar10" base_path: "/models/cifar10"', "model_platform"),
    ],
)
def test_a_file_tf_serving_would_refuse_is_refused_when_read(tmp_path, entry, message):
    """Regression: rollout had its own reader that accepted relative base paths and a
    missing model_platform, which TF Serving (and serving/) refuse."""
    path = tmp_path / serving_defaults.MODEL_CONFIG_FILENAME
    path.write_text(f"model_config_list {{ config {{ {entry} }} }}\n")
    with pytest.raises(serving_config.ConfigError, match=message):
        model_config.read(path)


def test_the_manager_replaces_a_config_tf_serving_would_refuse(manager):
    """A hand-written config with a relative base path is not carried into the new file:
    the manager writes the absolute model directory, which every server accepts."""
    manager.config_path.parent.mkdir(parents=True, exist_ok=True)
    manager.config_path.write_text(
        'model_config_list { config { name: "cifar10" '
        'base_path: "models/cifar10" model_platform: "tensorflow" } }'
    )
    manager.init(1)
    served = model_config.read(manager.config_path)
    assert served.base_path == str(manager.model_dir.resolve())
    assert served.labels == {rollout_settings.STABLE_LABEL: 1}
    serving_config.load_file(manager.config_path)  # what the model server will do


def test_rollout_keeps_no_config_parser_of_its_own():
    """One home for the TF Serving config format: serving/model_config.py."""
    source = (configs.REPO_ROOT / "rollout" / "canary" / "model_config.py").read_text()
    assert "text_format" not in source and "model_server_config_pb2" not in source
