"""TF Serving's model config file (``--model_config_file``): a ``model_config_list`` text proto.

Parsed with TF Serving's own proto (``tensorflow_serving.config.model_server_config_pb2``) so
a file that works here works in the real server and the other way round. ``to_text`` writes
the same format, for tools (the rollout CLI, tests) that move version labels around.

One extension: a relative ``base_path`` is resolved against the config file's folder, so a
config kept beside the models (``<serving_root>/models.config``) can say ``base_path:
"cifar10"``. Real TF Serving would resolve it against its working directory; the
production config under ``deploy/serving/`` uses absolute paths.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format

from serving.model_paths import check_model_name
from serving.version_policy import ALL, LATEST, SPECIFIC, VersionPolicy

_LABEL = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class ConfigError(ValueError):
    """The model config is unreadable or inconsistent; the previous one stays in force."""


@dataclass(frozen=True)
class ModelEntry:
    """One model the server should serve."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: Mapping[str, int] = field(default_factory=dict)


def single_model(name: str, base_path: Path | str,
                 policy: VersionPolicy | None = None) -> dict[str, ModelEntry]:
    """The config implied by ``--model_name`` / ``--model_base_path``."""
    return {check_model_name(name): ModelEntry(name, Path(base_path), policy or VersionPolicy())}


def _policy(cfg) -> VersionPolicy:
    which = cfg.model_version_policy.WhichOneof("policy_choice")
    if which is None:
        return VersionPolicy()
    if which == "latest":
        return VersionPolicy(LATEST, num_versions=cfg.model_version_policy.latest.num_versions or 1)
    if which == "specific":
        return VersionPolicy(SPECIFIC,
                             versions=frozenset(cfg.model_version_policy.specific.versions))
    return VersionPolicy(ALL)


def parse(text: str, relative_to: Path | None = None) -> dict[str, ModelEntry]:
    """Parse a ``ModelServerConfig`` text proto into ``{name: ModelEntry}``."""
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise ConfigError(f"cannot parse model config: {exc}") from exc
    if proto.WhichOneof("config") == "custom_model_config":
        raise ConfigError("custom_model_config is not supported; use model_config_list")
    entries: dict[str, ModelEntry] = {}
    for cfg in proto.model_config_list.config:
        try:
            name = check_model_name(cfg.name)
            policy = _policy(cfg)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if name in entries:
            raise ConfigError(f"model {name!r} is configured twice")
        if not cfg.base_path:
            raise ConfigError(f"model {name!r} has no base_path")
        if cfg.model_platform not in ("", "tensorflow"):
            raise ConfigError(f"model {name!r}: unsupported platform {cfg.model_platform!r}")
        for label, version in cfg.version_labels.items():
            if not _LABEL.match(label):
                raise ConfigError(f"model {name!r}: invalid version label {label!r}")
            if version < 0:
                raise ConfigError(f"model {name!r}: label {label!r} -> negative version")
        base = Path(cfg.base_path)
        if not base.is_absolute() and relative_to is not None:
            base = Path(relative_to) / base
        entries[name] = ModelEntry(name, base, policy, dict(cfg.version_labels))
    return entries


def load_file(path: Path | str) -> dict[str, ModelEntry]:
    """Read and parse a config file; relative base paths resolve beside the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read model config {path}: {exc}") from exc
    return parse(text, relative_to=path.resolve().parent)


def to_text(entries: Mapping[str, ModelEntry]) -> str:
    """Render entries as a ``model_config_list`` text proto (what TF Serving reads)."""
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    for entry in entries.values():
        cfg = proto.model_config_list.config.add()
        cfg.name = entry.name
        cfg.base_path = str(entry.base_path)
        cfg.model_platform = "tensorflow"
        pol = entry.policy
        if pol.kind == LATEST:
            cfg.model_version_policy.latest.num_versions = pol.num_versions
        elif pol.kind == SPECIFIC:
            cfg.model_version_policy.specific.versions.extend(sorted(pol.versions))
        elif pol.kind == ALL:
            cfg.model_version_policy.all.SetInParent()
        for label, version in sorted(entry.labels.items()):
            cfg.version_labels[label] = version
    return text_format.MessageToString(proto)
