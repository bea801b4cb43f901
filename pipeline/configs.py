"""The pipeline layer's settings: names, the output layout, blessing thresholds, Beam.

Each layer owns its settings: data in ``ingest/settings.py``, hyperparameters in
``models/hparams.py``, TF Serving's conventions in ``serving/defaults.py``, rollout in
``rollout/``, Airflow in ``airflow_dags/cifar10_airflow_settings.py``. Environment
variables override the paths so the same code runs on a laptop and in a cluster.
"""

from __future__ import annotations

import os
from pathlib import Path

PIPELINE_NAME = "cifar10"
MODEL_NAME = "cifar10"  # the TF Serving model name: <serving_root>/<MODEL_NAME>/<version>/

REPO_ROOT = Path(__file__).resolve().parents[1]

# Data settings (locations, layout, splits, spans) live in ingest/settings.py only.

OUTPUT_ROOT_ENV = "CIFAR10_OUTPUT_ROOT"

# --- paths (under one output root unless overridden) ------------------------------------
DEFAULT_OUTPUT_ROOT = Path(os.environ.get(OUTPUT_ROOT_ENV, REPO_ROOT / "outputs"))
SCHEMA_PATH = REPO_ROOT / "schema" / "schema.pbtxt"


def examples_root(output_root: Path, pipeline_name: str = PIPELINE_NAME) -> Path:
    """Where the data step writes input spans (span-N/<split>/*.tfrecord).

    The default pipeline's spans are ``examples/``; another pipeline (another dataset) has
    its own ``examples/<pipeline_name>/``, so the spans of two datasets never interleave.
    """
    root = Path(output_root) / "examples"
    return root if pipeline_name == PIPELINE_NAME else root / pipeline_name


def pipeline_root(output_root: Path, pipeline_name: str = PIPELINE_NAME) -> Path:
    return Path(output_root) / "pipelines" / pipeline_name


def metadata_path(output_root: Path, pipeline_name: str = PIPELINE_NAME) -> Path:
    """ML Metadata SQLite file (the embedded default), kept under the pipeline root."""
    return pipeline_root(output_root, pipeline_name) / "metadata.sqlite"


def serving_root(output_root: Path) -> Path:
    """TF Serving model base path; models land in <serving_root>/<MODEL_NAME>/<version>/."""
    return Path(output_root) / "serving"


# --- module code (dotted paths: TFX imports them on the workers) ---------------------------
PREPROCESSING_FN = "models.preprocessing.preprocessing_fn"
RUN_FN = "models.model.run_fn"
TUNER_FN = "models.tuning.tuner_fn"
TUNE_EPOCHS = 5  # epochs per tuning trial (the trial budget is a run setting: --tune-trials)
# Hyperparameter defaults live with the model: models/hparams.py.

# --- blessing -----------------------------------------------------------------------------
ACCURACY_METRIC = "sparse_categorical_accuracy"
ACCURACY_LOWER_BOUND = 0.30  # absolute floor on the test split for CIFAR-10's ten classes
ACCURACY_MAX_DROP = 0.01  # a candidate may be at most this much below the baseline
# Other class counts get a floor as far above chance (1 / classes) as 0.30 is for ten: the same
# share of the way from chance to 1. A fixed 0.30 would bless a coin toss on two classes.
FLOOR_SHARE_ABOVE_CHANCE = (ACCURACY_LOWER_BOUND - 1 / 10) / (1 - 1 / 10)


def blessing_floor(num_classes: int, accuracy_lower_bound: float | None = None) -> float:
    """The test accuracy the Evaluator blesses from: ``accuracy_lower_bound`` when one was asked
    for, else the default for ``num_classes`` classes: 0.30 for ten, 0.6111 for two, 0.4815 for
    three (rounded to four places, as printed)."""
    if accuracy_lower_bound is not None:
        return accuracy_lower_bound
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    chance = 1 / num_classes
    return round(chance + (1 - chance) * FLOOR_SHARE_ABOVE_CHANCE, 4)


# --- Beam ---------------------------------------------------------------------------------
DEFAULT_DIRECT_RUNNING_MODE = "in_memory"  # or multi_processing / multi_threading
DEFAULT_DIRECT_NUM_WORKERS = 1


def beam_pipeline_args(
    running_mode: str = DEFAULT_DIRECT_RUNNING_MODE,
    num_workers: int = DEFAULT_DIRECT_NUM_WORKERS,
    extra: list[str] | None = None,
) -> list[str]:
    """Beam args for every component.

    DirectRunner settings unless ``extra`` names another runner, whose args pass through
    untouched. ``--setup_file`` ships this project to remote workers (Dataflow/Flink/Spark)
    and stops TFX from building a throwaway TFX sdist for every component.
    """
    extra = list(extra or [])
    args = (
        []
        if any(a.startswith("--runner") for a in extra)
        else [
            f"--direct_running_mode={running_mode}",
            f"--direct_num_workers={num_workers}",
        ]
    )
    if not any(
        a.startswith(("--setup_file", "--extra_package", "--requirements_file")) for a in extra
    ):
        args.append(f"--setup_file={REPO_ROOT / 'setup.py'}")
    return args + extra


# --- infra validation: the model server the candidate is checked in ------------------------
SERVING_HOST = "127.0.0.1"  # the local-process server binds here
# TF Serving's conventions (ports, paths, its container image SERVING_IMAGE) live in
# serving/defaults.py, the rollout's settings in rollout/settings.py, Airflow's in
# airflow_dags/cifar10_airflow_settings.py.
