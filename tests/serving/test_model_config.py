"""Config parsing (TF Serving's model_config_list text proto), version policy, path safety."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving import model_config
from serving.model_config import ConfigError, ModelEntry
from serving.model_paths import check_model_name, list_versions
from serving.version_policy import ALL, LATEST, SPECIFIC, VersionPolicy

CONFIG = """
model_config_list {
  config {
    name: "cifar10"
    base_path: "/models/cifar10"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 3 versions: 4 } }
    version_labels { key: "stable" value: 3 }
    version_labels { key: "canary" value: 4 }
  }
  config {
    name: "other"
    base_path: "/models/other"
    model_platform: "tensorflow"
    model_version_policy { latest { num_versions: 2 } }
  }
  config { name: "everything" base_path: "/m/e" model_platform: "tensorflow"
           model_version_policy { all {} } }
}
"""


def test_parse_models_policies_and_labels(tmp_path):
    entries = model_config.parse(CONFIG, relative_to=tmp_path)
    assert list(entries) == ["cifar10", "other", "everything"]
    c = entries["cifar10"]
    assert c.base_path == Path("/models/cifar10")
    assert c.policy == VersionPolicy(SPECIFIC, versions=frozenset({3, 4}))
    assert dict(c.labels) == {"stable": 3, "canary": 4}
    assert entries["other"].policy == VersionPolicy(LATEST, num_versions=2)
    assert entries["other"].base_path == Path("/models/other")
    assert entries["everything"].policy.kind == ALL


def test_default_policy_is_latest_one():
    entries = model_config.parse(
        'model_config_list { config { name: "m" base_path: "/x" model_platform: "tensorflow" } }'
    )
    assert entries["m"].policy == VersionPolicy(LATEST, num_versions=1)


def test_to_text_round_trips(tmp_path):
    entries = model_config.parse(CONFIG, relative_to=tmp_path)
    again = model_config.parse(model_config.to_text(entries))
    assert again == entries


def test_relative_base_path_is_refused_as_tf_serving_does(tmp_path):
    path = tmp_path / "models.config"
    path.write_text(
        'model_config_list { config { name: "cifar10" base_path: "cifar10" '
        'model_platform: "tensorflow" } }'
    )
    with pytest.raises(ConfigError, match="Expected model cifar10 to have an absolute path"):
        model_config.load_file(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: ", "cannot parse"),
        ("this is not a config", "cannot parse"),
        ('model_config_list { config { name: "../etc" base_path: "/x" } }', "invalid model name"),
        ('model_config_list { config { name: "a/b" base_path: "/x" } }', "invalid model name"),
        ('model_config_list { config { name: "m" } }', "no base_path"),
        (
            'model_config_list { config { name: "m" base_path: "/x" model_platform: "tensorflow" } '
            'config { name: "m" base_path: "/y" model_platform: "tensorflow" } }',
            "Illegal to list model m multiple times",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/x" } }',
            "nor ModelServerConfig::model_platform",
        ),
        (
            'model_config_list { config { name: "m" base_path: "gs://bucket/m" '
            'model_platform: "tensorflow" } }',
            "remote file system",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/x" model_platform: "pytorch" } }',
            "platform",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/x" model_platform: "tensorflow" '
            'version_labels { key: "bad label" value: 1 } } }',
            "invalid version label",
        ),
        (
            'model_config_list { config { name: "m" base_path: "/x" '
            "model_version_policy { specific { } } } }",
            "at least one version",
        ),
    ],
)
def test_bad_configs_are_rejected(text, message):
    with pytest.raises(ConfigError, match=message):
        model_config.parse(text)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        model_config.load_file(tmp_path / "nope.config")


@pytest.mark.parametrize(
    "policy, on_disk, expected",
    [
        (VersionPolicy(), [1, 2, 3], {3}),
        (VersionPolicy(LATEST, num_versions=2), [5, 1, 3], {3, 5}),
        (VersionPolicy(LATEST, num_versions=5), [1, 2], {1, 2}),
        (VersionPolicy(SPECIFIC, versions=frozenset({2, 9})), [1, 2, 3], {2}),
        (VersionPolicy(ALL), [1, 2, 3], {1, 2, 3}),
        (VersionPolicy(), [], set()),
    ],
)
def test_version_policy_select(policy, on_disk, expected):
    assert policy.select(on_disk) == expected


def test_version_policy_validation():
    with pytest.raises(ValueError):
        VersionPolicy(LATEST, num_versions=0)
    with pytest.raises(ValueError):
        VersionPolicy("newest")


@pytest.mark.parametrize("name", ["cifar10", "my-model_2", "m.v2"])
def test_good_model_names(name):
    assert check_model_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "..", "../x", "a/b", "/abs", ".hidden", "a..b", "x\\y", "sp ace", "a" * 200, "é"]
)
def test_model_names_cannot_escape_the_base_path(name):
    with pytest.raises(ValueError):
        check_model_name(name)


def test_list_versions_only_complete_numbered_dirs(tmp_path):
    for name, complete in [
        ("1", True),
        ("2", False),
        ("10", True),
        (".tmp-3", True),
        ("4.partial", True),
        ("latest", True),
    ]:
        (tmp_path / name).mkdir()
        if complete:
            (tmp_path / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / "5").write_text("a file, not a dir")
    assert sorted(list_versions(tmp_path)) == [1, 10]
    assert list_versions(tmp_path / "missing") == {}


def test_model_entry_defaults():
    entry = ModelEntry("m", Path("/x"))
    assert entry.policy == VersionPolicy() and dict(entry.labels) == {}
