"""TF Serving's model config file (``--model_config_file``): a ``model_config_list`` text proto.

Parsed with TF Serving's own proto (``tensorflow_serving.config.model_server_config_pb2``) so
a file that works here works in the real server and the other way round. ``to_text`` writes
the same format, for tools (the rollout CLI, tests) that move version labels around.

The checks are TF Serving's (``server_core.cc``): every ``base_path`` must be absolute,
``model_platform`` must be set (to ``tensorflow``), a model may be listed once. Remote
file systems (``gs://``, ``s3://``, ``hdfs://``) are refused with a message naming them:
this server reads local paths only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format

from serving.model_paths import check_model_name
from serving.text_proto import parser_report
from serving.version_policy import ALL, LATEST, SPECIFIC, VersionPolicy

_LABEL = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class ConfigError(ValueError):
    """The model config is unreadable or inconsistent; the previous one stays in force.

    ``report`` is protobuf's parser report (line:column) when the text did not parse."""

    def __init__(self, message: str, report: str | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ModelEntry:
    """One model the server should serve."""

    name: str
    base_path: Path
    policy: VersionPolicy = VersionPolicy()
    labels: Mapping[str, int] = field(default_factory=dict)


def single_model(
    name: str, base_path: Path | str, policy: VersionPolicy | None = None
) -> dict[str, ModelEntry]:
    """The config implied by ``--model_name`` / ``--model_base_path``."""
    return {check_model_name(name): ModelEntry(name, Path(base_path), policy or VersionPolicy())}


def _policy(cfg) -> VersionPolicy:
    which = cfg.model_version_policy.WhichOneof("policy_choice")
    if which is None:
        return VersionPolicy()
    if which == "latest":
        return VersionPolicy(LATEST, num_versions=cfg.model_version_policy.latest.num_versions or 1)
    if which == "specific":
        return VersionPolicy(
            SPECIFIC, versions=frozenset(cfg.model_version_policy.specific.versions)
        )
    return VersionPolicy(ALL)


def parse(text: str, relative_to: Path | None = None) -> dict[str, ModelEntry]:
    """Parse a ``ModelServerConfig`` text proto into ``{name: ModelEntry}``.

    ``relative_to`` is accepted for old callers and ignored: relative base paths are an
    error, as in TF Serving.
    """
    from tensorflow_serving.config import model_server_config_pb2

    proto = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise ConfigError(f"cannot parse model config: {exc}", parser_report(exc, proto)) from exc
    return from_proto(proto)


def from_proto(proto) -> dict[str, ModelEntry]:
    """Entries of a ``ModelServerConfig`` message (file contents or a reload request)."""
    if proto.WhichOneof("config") == "custom_model_config":
        raise ConfigError("ModelServer does not yet support custom model config.")
    entries: dict[str, ModelEntry] = {}
    for cfg in proto.model_config_list.config:
        if cfg.name in entries:
            raise ConfigError(f"Illegal to list model {cfg.name} multiple times in config list")
        try:
            name = check_model_name(cfg.name)
            policy = _policy(cfg)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        if not cfg.base_path:
            raise ConfigError(f"model {name!r} has no base_path")
        if "://" in cfg.base_path:
            raise ConfigError(
                f"model {name!r}: base_path {cfg.base_path!r} is on a remote "
                "file system, which this server does not support (local paths "
                "only)"
            )
        if not Path(cfg.base_path).is_absolute():
            raise ConfigError(
                f"Expected model {name} to have an absolute path or URI; got "
                f"base_path()={cfg.base_path}"
            )
        if not cfg.model_platform:
            raise ConfigError(
                "Illegal setting neither ModelServerConfig::model_type "
                "(deprecated) nor ModelServerConfig::model_platform, model name "
                f"is {name}"
            )
        if cfg.model_platform != "tensorflow":
            raise ConfigError(
                f"model {name!r}: unsupported platform {cfg.model_platform!r} (only 'tensorflow')"
            )
        for label, version in cfg.version_labels.items():
            if not _LABEL.match(label):
                raise ConfigError(f"model {name!r}: invalid version label {label!r}")
            if version < 0:
                raise ConfigError(f"model {name!r}: label {label!r} -> negative version")
        entries[name] = ModelEntry(name, Path(cfg.base_path), policy, dict(cfg.version_labels))
    return entries


def load_file(path: Path | str) -> dict[str, ModelEntry]:
    """Read and parse a config file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read model config {path}: {exc}") from exc
    return parse(text)


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


def describe(entries: Mapping[str, ModelEntry]) -> str:
    return "; ".join(
        f"{e.name} <- {e.base_path} ({e.policy.describe()}"
        + (f", labels {dict(e.labels)}" if e.labels else "")
        + ")"
        for e in entries.values()
    )
