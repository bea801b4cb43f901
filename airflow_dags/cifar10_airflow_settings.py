"""Settings of the CIFAR-10 Airflow DAGs (``cifar10`` and ``cifar10_release``) and their
Python tasks (the input span; the release sensor and run).

No Airflow or TFX import here, so the DAG file, the tests and the deploy checks read these
names cheaply. Everything comes from the environment of the Airflow processes (scheduler,
workers, task pods), which is how the same DAG file runs on a laptop and on a cluster:

- ``CIFAR10_DATA_ROOT`` / ``CIFAR10_OUTPUT_ROOT``: raw batches; spans, artifacts, ML Metadata
  and pushed models (names and layout from ``pipeline/configs.py``);
- ``CIFAR10_PIPELINE_ARGS``: the run flags ``beam_runner.py`` takes, e.g. ``--limit 300
  --epochs 1`` (parsed by ``pipeline.run_config``, the same parser the CLI uses);
- ``CIFAR10_BEAM_ARGS``: Beam args for every component, e.g. ``--runner=FlinkRunner ...``;
- ``CIFAR10_METADATA_MYSQL``: ML Metadata on MySQL/MariaDB, ``HOST:PORT/DB`` (credentials from
  ``CIFAR10_MYSQL_USER`` / ``CIFAR10_MYSQL_PASSWORD``, never from flags); unset: SQLite under
  the output root, which allows one task at a time;
- ``CIFAR10_AIRFLOW_RETRIES``: retries of each task;
- ``CIFAR10_AIRFLOW_RETRY_DELAY``: seconds before the first retry (doubling after).
- ``CIFAR10_RELEASE_ARGS``: extra ``cifar10-release`` flags of the release DAG (e.g.
  ``--server <model server REST> --router <router REST>``).

They are read when the DAG file is parsed: a change takes effect at the next parse.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ingest import settings as ingest_settings
from pipeline import configs, metadata_store, run_config

AIRFLOW_DAG_ID = configs.PIPELINE_NAME  # AirflowDagRunner names the DAG after the pipeline
AIRFLOW_SCHEDULE = "@daily"
PIPELINE_IMAGE = "cifar10-tfx-pipeline:0.1.0"  # image built from deploy/airflow/Dockerfile
PIPELINE_ARGS_ENV = "CIFAR10_PIPELINE_ARGS"  # the run flags of beam_runner.py
BEAM_ARGS_ENV = "CIFAR10_BEAM_ARGS"  # Beam args, e.g. --runner=FlinkRunner ...
RETRIES_ENV = "CIFAR10_AIRFLOW_RETRIES"
RETRY_DELAY_ENV = "CIFAR10_AIRFLOW_RETRY_DELAY"
METADATA_MYSQL_ENV = metadata_store.MYSQL_ENV
# Plain settings every Airflow process needs (deploy files pass each one on).
ENV_NAMES = (
    ingest_settings.DATA_ROOT_ENV,
    configs.OUTPUT_ROOT_ENV,
    PIPELINE_ARGS_ENV,
    BEAM_ARGS_ENV,
    METADATA_MYSQL_ENV,
    RETRIES_ENV,
    RETRY_DELAY_ENV,
)
# Credentials: deploy files take them from a secret, never as literal values.
SECRET_ENV_NAMES = (metadata_store.MYSQL_USER_ENV, metadata_store.MYSQL_PASSWORD_ENV)

PREPARE_TASK_ID = "prepare_input_span"
OWNER = "ml-platform"
START_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)
DEFAULT_RETRIES = 2
RETRY_DELAY = timedelta(minutes=5)  # default of $CIFAR10_AIRFLOW_RETRY_DELAY
EXECUTION_TIMEOUT = timedelta(hours=6)  # a full 15-epoch training run takes well under that
# Deterministic failures: a retry would fail the same way, so the run fails at once.
NO_RETRY_TASKS = ("AnomaliesGate",)
# Importing TFX takes 20-40 s (measured); Airflow's default dagbag_import_timeout is 30 s.
# Every Airflow config that parses this DAG (tests, docker-compose, Helm) sets at least this.
DAGBAG_IMPORT_TIMEOUT_SECONDS = 300
# A killed task (OOM, lost node) is found as a zombie, and its failure is handled by a
# callback that needs this DAG file parsed (20-40 s). Airflow 2.10 finds the same zombie again
# at every detection until then, and each extra callback eats a retry: the retry of a killed
# Trainer failed at once with the default 10 s (apache/airflow#51969, measured here). Every
# Airflow config that runs this DAG sets [scheduler] zombie_detection_interval above the parse.
ZOMBIE_DETECTION_INTERVAL_SECONDS = 120
# With ML Metadata on MySQL, tasks of one run may run side by side. The graph is narrow
# (ImportExampleGen beside ImportSchemaGen; InfraValidator beside the baseline resolver and
# the Evaluator); the cap keeps a mis-drawn graph from flooding the workers, each of which
# imports TFX and may run a Beam pipeline.
PARALLEL_MAX_ACTIVE_TASKS = 4


# --- the release DAG (cifar10_release_dag.py): retrain request -> release -------------------
RELEASE_DAG_ID = "cifar10_release"
RELEASE_SCHEDULE = timedelta(minutes=10)  # a run starts its sensor this often
RELEASE_SENSOR_POKE_SECONDS = 60
# The sensor gives up (a skipped run, not a failed one) a poke before the next run starts.
RELEASE_SENSOR_TIMEOUT_SECONDS = int(RELEASE_SCHEDULE.total_seconds()) - RELEASE_SENSOR_POKE_SECONDS
RELEASE_ARGS_ENV = "CIFAR10_RELEASE_ARGS"  # extra cifar10-release flags, e.g. --server/--router
RELEASE_TAGS = ("cifar10", "rollout")


class SettingsError(ValueError):
    """A CIFAR10_* setting the DAG cannot use (raised at parse: an import error in the UI)."""


def pipeline_config(env: Mapping[str, str] = os.environ) -> run_config.RunConfig:
    """The run config both runners build the pipeline from (the CLI's flags and defaults).

    ``$CIFAR10_METADATA_MYSQL`` is read from ``env`` (the CLI parser's default reads
    ``os.environ``, which would make ``env`` a partial answer); a ``--metadata-mysql`` flag in
    ``$CIFAR10_PIPELINE_ARGS`` still wins, as on the command line."""
    flags = env.get(PIPELINE_ARGS_ENV, "")
    beam_args = env.get(BEAM_ARGS_ENV, "")
    mysql = shlex.quote(env.get(METADATA_MYSQL_ENV, ""))
    try:
        return run_config.parse_string(f"--metadata-mysql {mysql} {flags}", beam_args)
    except (run_config.RunConfigError, ValueError) as e:
        raise SettingsError(
            f"bad ${PIPELINE_ARGS_ENV} or ${BEAM_ARGS_ENV} ({flags!r}, {beam_args!r}): {e}"
        ) from e


def retries(env: Mapping[str, str] = os.environ) -> int:
    try:
        return int(env.get(RETRIES_ENV, DEFAULT_RETRIES))
    except ValueError as e:
        raise SettingsError(f"${RETRIES_ENV} must be an integer") from e


def retry_delay(env: Mapping[str, str] = os.environ) -> timedelta:
    """Delay before the first retry. Five minutes lets a node or a database come back; a test
    of the retry path sets a few seconds."""
    text = env.get(RETRY_DELAY_ENV)
    if text is None:
        return RETRY_DELAY
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise SettingsError(f"${RETRY_DELAY_ENV} must be seconds between 0 and 86400, not {text!r}")
    return timedelta(seconds=seconds)


def max_active_tasks(config: run_config.RunConfig) -> int:
    """Tasks of one run at a time: one with SQLite (one file on shared storage, every task
    writes it, and SQLite locks up under several writers, tfx#199), a few with MySQL."""
    return 1 if config.metadata_mysql is None else PARALLEL_MAX_ACTIVE_TASKS


def dag_config(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Keyword arguments of the Airflow ``DAG`` (AirflowPipelineConfig.airflow_dag_config)."""
    config = pipeline_config(env)
    return {
        "schedule": AIRFLOW_SCHEDULE,
        "start_date": START_DATE,
        "catchup": False,
        # Runs share the examples root, the TFX cache and the serving directory.
        "max_active_runs": 1,
        "max_active_tasks": max_active_tasks(config),
        "dagrun_timeout": EXECUTION_TIMEOUT,
        "tags": ["tfx", configs.PIPELINE_NAME],
        "default_args": {
            "owner": OWNER,
            "retries": retries(env),
            "retry_delay": retry_delay(env),
            "retry_exponential_backoff": True,
            "execution_timeout": EXECUTION_TIMEOUT,
        },
    }


def prepare_input_span() -> dict[str, Any]:
    """The DAG's first task: turn the raw batches into an input span for ImportExampleGen.

    ``pipeline.runner.prepare_run``, as every run path: a new span only when the data changed
    (unchanged data reuses the latest span, which keeps the TFX cache warm), and ML Metadata
    opened once, alone (SQLite's folder created; a wrong MySQL password or a down server
    fails here with a message naming the host, and a new database gets its schema before
    ImportExampleGen and ImportSchemaGen open it at once). Bad data raises ``CifarDataError``
    (a store that does not open ``MetadataStoreError``) and fails the task, so no component
    runs. Returns span facts (XCom).
    """
    from pipeline import runner

    span, _ = runner.prepare_run(pipeline_config())
    print(
        f"input span {span.span} "
        f"({'reused' if span.reused else 'written'}) at {span.path}: {span.counts}"
    )
    return {"span": span.span, "path": str(span.path), "counts": span.counts, "reused": span.reused}


def release_argv(env: Mapping[str, str] = os.environ) -> list[str]:
    """``cifar10-release --if-retrain-requested`` flags: the output and data roots (the
    pipeline's variables) plus ``$CIFAR10_RELEASE_ARGS`` (release flags, e.g. the model
    server and router of the serving stack). The pipeline run itself is derived in code
    from a RunConfig (``rollout.release.pipeline_run``), not from flags built here."""
    argv = ["--if-retrain-requested"]
    if env.get(configs.OUTPUT_ROOT_ENV):
        argv += ["--output-root", env[configs.OUTPUT_ROOT_ENV]]
    if env.get(ingest_settings.DATA_ROOT_ENV):
        argv += ["--data-root", env[ingest_settings.DATA_ROOT_ENV]]
    return argv + shlex.split(env.get(RELEASE_ARGS_ENV, ""))


def retrain_request_pending(env: Mapping[str, str] = os.environ) -> bool:
    """The release DAG's sensor: a retrain request waits under the output root (one stat)."""
    from rollout.release.scheduled import retrain_request_pending as pending

    return pending(env.get(configs.OUTPUT_ROOT_ENV) or configs.DEFAULT_OUTPUT_ROOT)


def run_release(env: Mapping[str, str] = os.environ) -> int:
    """The release DAG's task: one ``cifar10-release --if-retrain-requested``; raises when it
    did not end with the new model serving (rolled back, not blessed, failed), so Airflow
    shows the run as failed. The release code (TF, TFX) is imported only here."""
    from rollout.release import cli

    argv = release_argv(env)
    code = cli.main(argv)
    if code != 0:
        raise RuntimeError(
            f"cifar10-release {' '.join(argv)} exited {code}; the retrain "
            "request's outcome is in the rollout history"
        )
    return code
