"""A real Airflow in production shape for the tests: its environment, CLI, scheduler process,
and what its metadata DB (PostgreSQL) and the pipeline's ML Metadata (MariaDB) record.

Shared by the LocalExecutor test (test_production_airflow.py) and the Celery test
(test_celery_airflow.py); each adds only what differs (executor, broker, worker hosts).
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs, metadata_store
from tests import mariadb_server
from tests.airflow_dags.conftest import airflow_env as throwaway_airflow_env
from tests.mariadb_server import MariaDB
from tests.postgres_server import Postgres
from tests.support.ports import free_port
from tests.support.processes import StartedProcess, running_process
from tests.support.waiting import wait_until

AIRFLOW = str(configs.REPO_ROOT / ".venv" / "bin" / "airflow")
DAG_ID = settings.AIRFLOW_DAG_ID
# Small and fast: 300 + 300 images, one epoch, every model blessed.
PIPELINE_ARGS = "--limit 300 --epochs 1 --accuracy-lower-bound 0"
DAG_PARSE_DEADLINE_S = 300  # the scheduler's first parse imports TFX (20-40 s, more if loaded)


@dataclass
class TaskRun:
    state: str | None
    try_number: int
    start: datetime | None
    end: datetime | None
    hostname: str | None = None


def airflow_env(
    home: Path, pg: Postgres, mdb: MariaDB, data: Path, out: Path, **overrides: str
) -> dict[str, str]:
    """Airflow as deploy/airflow/docker-compose.yaml configures it, in throw-away places
    (LocalExecutor unless ``overrides`` say otherwise)."""
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    production = dict(
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=pg.sqlalchemy_url(),
        # Parse once (each parse imports TFX and costs a core for half a minute); a zombie's
        # failure callback still gets its file parsed at once.
        AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL="600",
        AIRFLOW__SCHEDULER__PARSING_PROCESSES="1",
        # Above the DAG's parse time (here at most ~40 s), as in deploy/airflow/ (120 s), but
        # lower so the test waits less: with 5 s the killed Trainer's zombie was found twice
        # and the second failure callback failed its retry (apache/airflow#51969).
        AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL="60",
        # The LocalExecutor serves task logs over HTTP (gunicorn): a free port, not 8793,
        # and a throw-away HOME for gunicorn's control socket.
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        HOME=str(home),
        PYTHONPATH=str(configs.REPO_ROOT),
        TMPDIR=str(home / "tmp"),
        CIFAR10_DATA_ROOT=str(data),
        CIFAR10_OUTPUT_ROOT=str(out),
        CIFAR10_PIPELINE_ARGS=PIPELINE_ARGS,
        **{
            metadata_store.MYSQL_ENV: mdb.address(),
            metadata_store.MYSQL_USER_ENV: mariadb_server.USER,
            metadata_store.MYSQL_PASSWORD_ENV: mariadb_server.PASSWORD,
            settings.RETRIES_ENV: "1",  # one retry: a killed task gets exactly one more
            settings.RETRY_DELAY_ENV: "1",
        },
    )
    return throwaway_airflow_env(home, **{**production, **overrides})


def airflow(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    proc = subprocess.run(
        [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"airflow {' '.join(args)}: {proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    )
    return proc.stdout


def trigger(env: dict[str, str], run_id: str, logical_date: datetime) -> None:
    """Trigger ``run_id`` for ``logical_date`` and unpause the DAG. The scheduler would create
    a scheduled run for its next date on unpause; a run already there for that date keeps it
    at this one run."""
    airflow(
        env, "dags", "trigger", DAG_ID, "--run-id", run_id, "--exec-date", logical_date.isoformat()
    )
    airflow(env, "dags", "unpause", DAG_ID)


# --- ML Metadata (MariaDB) ---------------------------------------------------------------------


def mlmd_store(mdb: MariaDB) -> Any:
    from ml_metadata.metadata_store import metadata_store as mlmd
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.mysql.host, config.mysql.port = mdb.host, mdb.port
    config.mysql.database = mariadb_server.DATABASE
    config.mysql.user, config.mysql.password = mariadb_server.USER, mariadb_server.PASSWORD
    return mlmd.MetadataStore(config)


def component_executions(store: Any, run_id: str, component: str) -> list[Any]:
    """Executions in TFX's ``component_run`` context of one component in one Airflow run
    (TFX's launcher keeps one per component and run, and a retry reuses it)."""
    context = store.get_context_by_type_and_name(
        "component_run", f"{configs.PIPELINE_NAME}.{run_id}.{component}"
    )
    return [] if context is None else store.get_executions_by_context(context.id)


def state_name(execution: Any) -> str:
    from ml_metadata.proto import metadata_store_pb2

    return metadata_store_pb2.Execution.State.Name(execution.last_known_state)


def run_context(store: Any, run_id: str) -> Any:
    """ML Metadata's "run" context of one Airflow run (AirflowDagRunner names it)."""
    run = store.get_context_by_type_and_name("run", f"{configs.PIPELINE_NAME}.{run_id}")
    assert run is not None, f"ML Metadata on MariaDB has no context for Airflow run {run_id}"
    return run


def pushed_destinations(store: Any, run_id: str) -> list[str]:
    """``pushed_destination`` of every PushedModel artifact of the run that was pushed."""
    return [
        a.custom_properties["pushed_destination"].string_value
        for a in store.get_artifacts_by_context(run_context(store, run_id).id)
        if a.custom_properties.get("pushed") and a.custom_properties["pushed"].int_value
    ]


# --- Airflow's metadata DB (PostgreSQL) --------------------------------------------------------


def task_runs(pg: Postgres, run_id: str) -> dict[str, TaskRun]:
    rows = pg.query(
        "SELECT task_id, state, try_number, start_date, end_date, hostname FROM task_instance"
        " WHERE dag_id = %s AND run_id = %s",
        (DAG_ID, run_id),
    )
    return {row[0]: TaskRun(*row[1:]) for row in rows}


def run_state(pg: Postgres, run_id: str) -> str | None:
    (state,) = pg.query(
        "SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", (DAG_ID, run_id)
    )[0]
    return state


def wait_for_parsed_dag(pg: Postgres, scheduler: StartedProcess) -> datetime:
    """The scheduler's DAG processor has stored the DAG; returns its next scheduled date."""

    def next_dagrun() -> datetime | None:
        rows = pg.query("SELECT next_dagrun FROM dag WHERE dag_id = %s AND is_active", (DAG_ID,))
        if rows and rows[0][0] is not None:
            return rows[0][0]
        errors = pg.query("SELECT filename, stacktrace FROM import_error")
        assert not errors, f"DAG import errors: {errors}"
        scheduler.check_running()
        return None

    try:
        return wait_until(
            next_dagrun,
            f"the scheduler to parse {DAG_ID}",
            timeout=DAG_PARSE_DEADLINE_S,
            interval=1,
        )
    except TimeoutError as error:
        raise AssertionError(f"{error}: {scheduler.log_tail()}") from None


def scheduler_process(
    env: dict[str, str], log: Path
) -> contextlib.AbstractContextManager[StartedProcess]:
    """``airflow scheduler`` in its own session; at the end SIGTERM, then SIGKILL for the
    scheduler and anything it started (LocalExecutor workers, task processes, which put
    themselves in their own process groups but stay in the session)."""
    return running_process(
        [AIRFLOW, "scheduler"],
        log,
        what="airflow scheduler",
        own_session=True,
        stop_timeout=60,
        env=env,
    )
