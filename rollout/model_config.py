"""Render and read TF Serving's model config file for a rollout.

Written with TF Serving's own proto (``ModelServerConfig`` text format), so the file works
with the real ``tensorflow_model_server --model_config_file`` as well as with ``serving/``:
the served versions are pinned with ``model_version_policy { specific {...} }`` and the
``stable``/``canary`` labels point at them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from pipeline import configs


@dataclass(frozen=True)
class ServedVersions:
    """What the model server should load and how the labels map onto it."""

    base_path: str
    stable: int | None
    canary: int | None = None

    @property
    def versions(self) -> list[int]:
        return sorted({v for v in (self.stable, self.canary) if v is not None})

    @property
    def labels(self) -> dict[str, int]:
        labels = {}
        if self.stable is not None:
            labels[configs.STABLE_LABEL] = self.stable
        if self.canary is not None:
            labels[configs.CANARY_LABEL] = self.canary
        return labels


def track_config_filename(track: str) -> str:
    """Per-track config (e.g. ``models.canary.config``) for deployments where each track is
    its own server (deploy/k8s-canary/): it loads only that track's version, so requests
    without a label cannot reach the other version."""
    stem, _, suffix = configs.MODEL_CONFIG_FILENAME.rpartition(".")
    return f"{stem}.{track}.{suffix}"


def for_track(served: ServedVersions, track: str) -> ServedVersions:
    """The one-version view of ``served`` for ``track`` (canary falls back to stable while
    no rollout is in progress, so the canary Deployment stays ready and harmless)."""
    if track == configs.STABLE_LABEL:
        return ServedVersions(served.base_path, served.stable, None)
    version = served.canary if served.canary is not None else served.stable
    return ServedVersions(served.base_path, None, version)


def render(served: ServedVersions, model_name: str = configs.MODEL_NAME) -> str:
    """The ``model_config_list`` text proto for ``served``."""
    proto = model_server_config_pb2.ModelServerConfig()
    model = proto.model_config_list.config.add()
    model.name = model_name
    model.base_path = served.base_path
    model.model_platform = "tensorflow"
    if served.versions:
        model.model_version_policy.specific.versions.extend(served.versions)
    for label, version in served.labels.items():
        model.version_labels[label] = version
    return text_format.MessageToString(proto)


def read(path: Path, model_name: str = configs.MODEL_NAME) -> ServedVersions | None:
    """The served versions of ``model_name`` in the config file at ``path`` (None if absent)."""
    if not Path(path).exists():
        return None
    proto = model_server_config_pb2.ModelServerConfig()
    text_format.Parse(Path(path).read_text(), proto)
    for model in proto.model_config_list.config:
        if model.name == model_name:
            labels = dict(model.version_labels)
            return ServedVersions(model.base_path, labels.get(configs.STABLE_LABEL),
                                  labels.get(configs.CANARY_LABEL))
    return None
