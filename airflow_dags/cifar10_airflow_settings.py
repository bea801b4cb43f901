"""Settings and the input-span task of the CIFAR-10 Airflow DAG.

No Airflow or TFX import here, so the DAG file, the tests and the deploy checks read these
names cheaply. Everything comes from the environment of the Airflow processes (scheduler,
workers, task pods), which is how the same DAG file runs on a laptop and on a cluster:

- ``CIFAR10_DATA_ROOT`` / ``CIFAR10_OUTPUT_ROOT``: raw batches; spans, artifacts, ML Metadata
  and pushed models (names and layout from ``pipeline/configs.py``);
- ``CIFAR10_PIPELINE_ARGS``: the run flags ``beam_runner.py`` takes, e.g. ``--limit 300
  --epochs 1`` (parsed by ``pipeline.run_config``, the same parser the CLI uses);
- ``CIFAR10_BEAM_ARGS``: Beam args for every component, e.g. ``--runner=FlinkRunner ...``;
- ``CIFAR10_AIRFLOW_RETRIES``: retries of each task.

They are read when the DAG file is parsed: a change takes effect at the next parse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from pipeline import configs, run_config

PIPELINE_ARGS_ENV = configs.PIPELINE_ARGS_ENV
BEAM_ARGS_ENV = configs.BEAM_ARGS_ENV
RETRIES_ENV = configs.AIRFLOW_RETRIES_ENV
ENV_NAMES = (configs.DATA_ROOT_ENV, configs.OUTPUT_ROOT_ENV, PIPELINE_ARGS_ENV, BEAM_ARGS_ENV,
             RETRIES_ENV)

PREPARE_TASK_ID = "prepare_input_span"
OWNER = "ml-platform"
START_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
DEFAULT_RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)
EXECUTION_TIMEOUT = timedelta(hours=6)  # a full 15-epoch training run takes well under that
# Deterministic failures: a retry would fail the same way, so the run fails at once.
NO_RETRY_TASKS = ("AnomaliesGate",)
# Importing TFX takes 20-40 s (measured); Airflow's default dagbag_import_timeout is 30 s.
# Every Airflow config that parses this DAG (tests, docker-compose, Helm) sets at least this.
DAGBAG_IMPORT_TIMEOUT_SECONDS = 300


class SettingsError(ValueError):
    """A CIFAR10_* setting the DAG cannot use (raised at parse: an import error in the UI)."""


def pipeline_config(env: Mapping[str, str] = os.environ) -> run_config.RunConfig:
    """The run config both runners build the pipeline from (the CLI's flags and defaults)."""
    flags = env.get(PIPELINE_ARGS_ENV, "")
    beam_args = env.get(BEAM_ARGS_ENV, "")
    try:
        return run_config.parse_string(flags, beam_args)
    except (run_config.RunConfigError, ValueError) as e:
        raise SettingsError(f"bad ${PIPELINE_ARGS_ENV} or ${BEAM_ARGS_ENV} "
                            f"({flags!r}, {beam_args!r}): {e}") from e


def retries(env: Mapping[str, str] = os.environ) -> int:
    try:
        return int(env.get(RETRIES_ENV, DEFAULT_RETRIES))
    except ValueError as e:
        raise SettingsError(f"${RETRIES_ENV} must be an integer") from e


def dag_config(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Keyword arguments of the Airflow ``DAG`` (AirflowPipelineConfig.airflow_dag_config)."""
    return {
        "schedule": configs.AIRFLOW_SCHEDULE,
        "start_date": START_DATE,
        "catchup": False,
        # Runs share the examples root, the TFX cache and the serving directory.
        "max_active_runs": 1,
        # ML Metadata is one SQLite file on shared storage: one writing task at a time.
        "max_active_tasks": 1,
        "dagrun_timeout": EXECUTION_TIMEOUT,
        "tags": ["tfx", configs.PIPELINE_NAME],
        "default_args": {
            "owner": OWNER,
            "retries": retries(env),
            "retry_delay": RETRY_DELAY,
            "retry_exponential_backoff": True,
            "execution_timeout": EXECUTION_TIMEOUT,
        },
    }


def prepare_input_span() -> dict[str, Any]:
    """The DAG's first task: turn the raw batches into an input span for ImportExampleGen.

    Same steps as ``pipeline.runner.run``: a new span only when the data changed (unchanged data
    reuses the latest span, which keeps the TFX cache warm). Bad data raises
    ``CifarDataError`` and fails the task, so no component runs. Returns span facts (XCom).
    """
    from pipeline import runner

    config = pipeline_config()
    span = runner.prepare_input(config)
    # ML Metadata's SQLite file lives here; the DAG file does not create it at parse.
    config.metadata_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"input span {span.span} "
          f"({'reused' if span.reused else 'written'}) at {span.path}: {span.counts}")
    return {"span": span.span, "path": str(span.path), "counts": span.counts,
            "reused": span.reused}
