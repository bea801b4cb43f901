"""Helpers for the Airflow tests: a real Airflow, always in subprocesses with their own
AIRFLOW_HOME, so the pytest process never reads or writes an Airflow config."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs
from tests.system_deps import require_shared_data

DAGS_FOLDER = configs.REPO_ROOT / "airflow_dags"
SCRIPT = configs.REPO_ROOT / "scripts" / "airflow_test.sh"


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment minus any Airflow or CIFAR10_* setting, plus overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CIFAR10_"))}
    env.update(PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="2")
    env.update(overrides)
    return env


def airflow_env(home: Path, **overrides: str) -> dict[str, str]:
    """A throwaway Airflow: SQLite, SequentialExecutor, our DAG folder, no examples.
    ``overrides`` replace any of these (the production-shape tests swap the executor and the
    metadata DB and keep the rest)."""
    home.mkdir(parents=True, exist_ok=True)
    defaults = dict(
        AIRFLOW_HOME=str(home),
        AIRFLOW_CONFIG=str(home / "airflow.cfg"),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="SequentialExecutor",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT=str(settings.DAGBAG_IMPORT_TIMEOUT_SECONDS),
        AIRFLOW__CORE__DAG_FILE_PROCESSOR_TIMEOUT=str(settings.DAGBAG_IMPORT_TIMEOUT_SECONDS),
    )
    return clean_env(**{**defaults, **overrides})


def run_airflow_test_script(
    workdir: Path, timeout: float, **env: str
) -> subprocess.CompletedProcess:
    """``scripts/airflow_test.sh``: db migrate + ``airflow dags test`` in ``workdir``."""
    return subprocess.run(
        ["bash", str(SCRIPT)],
        env=clean_env(AIRFLOW_TEST_WORKDIR=str(workdir), **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass
class DagRun:
    """The latest run of the DAG, as Airflow's metadata DB recorded it."""

    run_id: str
    state: str | None
    tasks: dict[str, tuple[str | None, int]]  # task_id -> (state, try_number)


def latest_dag_run(airflow_db: Path) -> DagRun:
    with sqlite3.connect(airflow_db) as conn:
        run = conn.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1",
            (settings.AIRFLOW_DAG_ID,),
        ).fetchone()
        assert run is not None, "no DAG run recorded"
        rows = conn.execute(
            "SELECT task_id, state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (settings.AIRFLOW_DAG_ID, run[0]),
        ).fetchall()
    return DagRun(run[0], run[1], {task: (state, tries) for task, state, tries in rows})


def pushed_models(metadata_db: Path, run_id: str) -> list[str]:
    """``pushed_destination`` of the PushedModel artifacts ML Metadata holds for one Airflow
    run. (AirflowDagRunner's launcher records "run" contexts named <pipeline>.<run_id>, not
    the "pipeline_run" contexts of the Beam runner, so pipeline.summary does not see them.)"""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(metadata_db)
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    run = store.get_context_by_type_and_name("run", f"{configs.PIPELINE_NAME}.{run_id}")
    assert run is not None, f"no ML Metadata run for Airflow run {run_id}"
    return [
        a.custom_properties["pushed_destination"].string_value
        for a in store.get_artifacts_by_context(run.id)
        if a.custom_properties.get("pushed") and a.custom_properties["pushed"].int_value
    ]


@pytest.fixture(scope="session")
def component_graph(tmp_path_factory) -> dict[str, set[str]]:
    """``create_pipeline``'s components and their upstream ids (the Beam runner's graph)."""
    from tfx.orchestration import metadata

    from pipeline import runner

    tmp = tmp_path_factory.mktemp("graph")
    config = settings.pipeline_config({}).with_changes(output_root=tmp)
    p = runner.build_pipeline(config, metadata.sqlite_metadata_connection_config(str(tmp / "m.db")))
    return {c.id: {u.id for u in c.upstream_nodes} for c in p.components}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return require_shared_data()
