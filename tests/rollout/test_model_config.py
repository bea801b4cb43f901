from __future__ import annotations

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import configs
from rollout import model_config
from rollout.model_config import ServedVersions


def test_render_is_a_tf_serving_model_config_with_pinned_versions_and_labels(tmp_path):
    text = model_config.render(ServedVersions(str(tmp_path), stable=3, canary=4))
    proto = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(text, proto)
    (model,) = proto.model_config_list.config
    assert model.name == configs.MODEL_NAME
    assert model.base_path == str(tmp_path)
    assert list(model.model_version_policy.specific.versions) == [3, 4]
    assert dict(model.version_labels) == {configs.STABLE_LABEL: 3, configs.CANARY_LABEL: 4}


def test_read_round_trips(tmp_path):
    path = tmp_path / configs.MODEL_CONFIG_FILENAME
    served = ServedVersions("/models/cifar10", stable=7, canary=None)
    path.write_text(model_config.render(served))
    assert model_config.read(path) == served
    assert model_config.read(tmp_path / "absent") is None


def test_the_model_server_accepts_the_rendered_file(tmp_path):
    """The serving/ parser (same proto as TF Serving) reads our labels and versions."""
    from serving import model_config as server_config

    text = model_config.render(ServedVersions(str(tmp_path), stable=1, canary=2))
    entry = server_config.parse(text)[configs.MODEL_NAME]
    assert dict(entry.labels) == {configs.STABLE_LABEL: 1, configs.CANARY_LABEL: 2}
    assert set(entry.policy.versions) == {1, 2}
