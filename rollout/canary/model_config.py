"""The rollout's labels in TF Serving's model config file.

The file format (``model_config_list`` text proto, TF Serving's checks) has one home,
:mod:`serving.model_config`; this module only decides what the rollout puts in it: the
served versions pinned with ``model_version_policy { specific {...} }`` and the
``stable``/``canary`` labels pointing at them, plus the per-track files of
deploy/k8s-canary/. A file that TF Serving would refuse (relative ``base_path``, no
``model_platform``) is refused here as well, so the rollout never builds on one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import configs
from rollout import settings as rollout_settings
from serving import defaults as serving_defaults
from serving import model_config as serving_config
from serving.version_policy import SPECIFIC, VersionPolicy


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
            labels[rollout_settings.STABLE_LABEL] = self.stable
        if self.canary is not None:
            labels[rollout_settings.CANARY_LABEL] = self.canary
        return labels


def track_config_filename(track: str) -> str:
    """Per-track config (e.g. ``models.canary.config``) for deployments where each track is
    its own server (deploy/k8s-canary/): it loads only that track's version, so requests
    without a label cannot reach the other version."""
    stem, _, suffix = serving_defaults.MODEL_CONFIG_FILENAME.rpartition(".")
    return f"{stem}.{track}.{suffix}"


def for_track(served: ServedVersions, track: str) -> ServedVersions:
    """The one-version view of ``served`` for ``track`` (canary falls back to stable while
    no rollout is in progress, so the canary Deployment stays ready and harmless)."""
    if track == rollout_settings.STABLE_LABEL:
        return ServedVersions(served.base_path, served.stable, None)
    version = served.canary if served.canary is not None else served.stable
    return ServedVersions(served.base_path, None, version)


def to_entry(
    served: ServedVersions, model_name: str = configs.MODEL_NAME
) -> serving_config.ModelEntry:
    """``served`` as serving's model entry: the labelled versions pinned, nothing else
    loaded (before the first deployment: TF Serving's default, the latest version)."""
    policy = (
        VersionPolicy(SPECIFIC, versions=frozenset(served.versions))
        if served.versions
        else VersionPolicy()
    )
    return serving_config.ModelEntry(model_name, Path(served.base_path), policy, served.labels)


def render(served: ServedVersions, model_name: str = configs.MODEL_NAME) -> str:
    """The ``model_config_list`` text proto for ``served``."""
    return serving_config.to_text({model_name: to_entry(served, model_name)})


def read(path: Path | str, model_name: str = configs.MODEL_NAME) -> ServedVersions | None:
    """The served versions of ``model_name`` in the config file at ``path`` (None if the
    file or the model is absent); :class:`serving.model_config.ConfigError` if TF Serving
    would refuse the file."""
    if not Path(path).exists():
        return None
    entry = serving_config.load_file(path).get(model_name)
    if entry is None:
        return None
    return ServedVersions(
        str(entry.base_path),
        entry.labels.get(rollout_settings.STABLE_LABEL),
        entry.labels.get(rollout_settings.CANARY_LABEL),
    )
