"""Fixtures for the serving tests: tiny versioned models, and servers on free ports."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline import configs
from rollout import settings as rollout_settings
from serving import defaults as serving_defaults
from tests.serving.tiny_models import build_classify_model, build_tiny_model, push

FAST_POLL = 0.2  # seconds; tests wait a few polls at most


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Callable[[int], Path]:
    """``tiny_models(v)``: path of a tiny model that answers class ``v % 10`` (cached)."""
    root = tmp_path_factory.mktemp("tiny-models")
    cache: dict[int, Path] = {}

    def get(version: int) -> Path:
        if version not in cache:
            cache[version] = build_tiny_model(root / f"v{version}", version)
        return cache[version]

    return get


@pytest.fixture(scope="session")
def classify_model(tmp_path_factory) -> Path:
    return build_classify_model(tmp_path_factory.mktemp("classify") / "model")


@pytest.fixture
def tiny_base(tmp_path, tiny_models) -> Callable[..., Path]:
    """``tiny_base(1, 2)``: a fresh ``<tmp>/models/cifar10`` holding those tiny versions."""

    def make(*versions: int) -> Path:
        base = tmp_path / "models" / configs.MODEL_NAME
        base.mkdir(parents=True, exist_ok=True)
        for v in versions:
            push(tiny_models(v), base, v)
        return base

    return make


@pytest.fixture
def start_server():
    """``start_server(**ModelServer kwargs)``: a started server on free ports, stopped after."""
    from serving.server import ModelServer

    servers = []

    def start(**kwargs) -> ModelServer:
        opts = dict(
            model_name=configs.MODEL_NAME,
            grpc_port=0,
            rest_port=0,
            file_system_poll_seconds=FAST_POLL,
            model_config_poll_seconds=FAST_POLL,
            startup_timeout=60,
        )
        opts.update(kwargs)
        server = ModelServer(**opts).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop(grace=1)


@pytest.fixture(scope="session")
def pipeline_serving_dir(pushed_model_dir, tmp_path_factory) -> Path:
    """A serving root holding the pipeline-made model as versions 1 and 2, with a config
    labelling them stable (1) and canary (2)."""
    from serving import model_config
    from serving.model_config import ModelEntry
    from serving.version_policy import SPECIFIC, VersionPolicy

    root = tmp_path_factory.mktemp("pipeline-serving")
    base = root / configs.MODEL_NAME
    base.mkdir()
    for version in (1, 2):
        (base / str(version)).symlink_to(pushed_model_dir, target_is_directory=True)
    policy = VersionPolicy(SPECIFIC, versions=frozenset({1, 2}))
    entry = ModelEntry(
        configs.MODEL_NAME,
        base,
        policy,
        {rollout_settings.STABLE_LABEL: 1, rollout_settings.CANARY_LABEL: 2},
    )
    (root / serving_defaults.MODEL_CONFIG_FILENAME).write_text(
        model_config.to_text({entry.name: entry})
    )
    return root


@pytest.fixture(scope="session")
def pipeline_server(pipeline_serving_dir):
    """The project's server on the pipeline-made model (started once per session)."""
    from serving.server import ModelServer

    server = ModelServer(
        model_config_file=pipeline_serving_dir / serving_defaults.MODEL_CONFIG_FILENAME,
        grpc_port=0,
        rest_port=0,
        file_system_poll_seconds=FAST_POLL,
        model_config_poll_seconds=FAST_POLL,
    ).start()
    yield server
    server.stop(grace=1)
