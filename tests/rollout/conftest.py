"""Fixtures for the rollout tests: a serving root with model versions, a manager, and tiny
SavedModels (built once per session) with the real model's signatures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import configs
from rollout.canary.manager import RolloutManager
from rollout.policy import load_policy


def fake_versions(output_root: Path, *versions: int, content: bytes | None = None) -> Path:
    """Version folders that count as complete SavedModels for the manager (no TF needed),
    each with its own content (as separately trained models have) unless ``content`` is
    given."""
    model_dir = configs.serving_root(output_root) / configs.MODEL_NAME
    for v in versions:
        (model_dir / str(v)).mkdir(parents=True, exist_ok=True)
        graph = content if content is not None else f"graph of version {v}".encode()
        (model_dir / str(v) / "saved_model.pb").write_bytes(graph)
    return model_dir


@pytest.fixture
def output_root(tmp_path: Path) -> Path:
    fake_versions(tmp_path, 1, 2, 3)
    return tmp_path


@pytest.fixture
def manager(output_root: Path) -> RolloutManager:
    return RolloutManager(output_root, load_policy())


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """behaviour -> SavedModel folder (brightness = healthy, constant, error)."""
    from demos.synthetic_models import BEHAVIOURS, write_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {b: write_model(root / b, b) for b in BEHAVIOURS}


def install_version(output_root: Path, model: Path, version: int, retrained: bool = True) -> Path:
    """Copy a SavedModel into the serving root as ``version`` (as the Pusher would).

    ``retrained`` gives the copy an asset of its own, so two installs of one synthetic model
    differ in content like two training runs do (the manager refuses to canary a version
    identical to the stable or a retired one); ``False`` installs an exact copy."""
    target = configs.serving_root(output_root) / configs.MODEL_NAME / str(version)
    shutil.copytree(model, target)
    if retrained:
        (target / "assets").mkdir(exist_ok=True)
        (target / "assets" / "training_run.txt").write_text(f"run for version {version}\n")
    return target
