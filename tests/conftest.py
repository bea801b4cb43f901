"""Shared fixtures: one real pipeline run on the CIFAR-10 subset, reused by every suite that
needs a pipeline-made model (pipeline end-to-end checks, serving contract tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest import settings as ingest_settings
from models import keras_runtime
from pipeline import configs
from tests.system_deps import require_shared_data

keras_runtime.use_tf_keras()  # before any test module imports TensorFlow (none above does)

# Small enough for CI, big enough that a trained model clearly beats an untrained one.
E2E_ARGS = ["--limit", "1000", "--epochs", "3", "--accuracy-lower-bound", "0.12"]


@dataclass
class PipelineRun:
    output_root: Path
    exit_code: int
    stdout: str
    run_id: str | None = None  # ML Metadata's id of this run: later runs in the root add others

    @property
    def serving_model_dir(self) -> Path:
        return configs.serving_root(self.output_root) / configs.MODEL_NAME

    def versions(self) -> list[Path]:
        return sorted(p for p in self.serving_model_dir.iterdir() if p.name.isdigit())


def run_pipeline(output_root: Path, *extra: str, capsys=None) -> PipelineRun:
    """Run beam_runner in-process (one TF import for the whole session)."""
    import beam_runner

    code = beam_runner.main(
        [
            "--data-root",
            str(ingest_settings.SHARED_DATA_ROOT),
            "--output-root",
            str(output_root),
            *E2E_ARGS,
            *extra,
        ]
    )
    out = capsys.readouterr().out if capsys else ""
    from pipeline import summary

    db = configs.metadata_path(output_root)
    run_id = summary.read_run(db).run_id if db.exists() else None
    return PipelineRun(output_root, code, out, run_id)


@pytest.fixture(scope="session")
def first_pipeline_run(tmp_path_factory) -> PipelineRun:
    """The pipeline end to end on 1,000 + 500 real images, 3 short epochs.

    Tests that run more pipelines in this root must read this run by ``run_id``, never as
    "the latest", so no test depends on another's order. Without the data folder the
    tests that need it fail in CI (a skip there would hide that nothing was checked).
    """
    require_shared_data()
    return run_pipeline(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="session")
def pushed_model_dir(first_pipeline_run) -> Path:
    """The first pushed version of the pipeline-made model (a TF Serving version dir)."""
    assert first_pipeline_run.exit_code == 0
    return first_pipeline_run.versions()[0]
