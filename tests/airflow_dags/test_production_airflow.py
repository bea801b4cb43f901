"""The DAG in Airflow's production shape, with a worker killed mid-run.

One real run, as production runs it: Airflow 2.10.5 on PostgreSQL (metadata DB), the
LocalExecutor (tasks in parallel worker processes), a real ``airflow scheduler`` picking up a
triggered run (not ``airflow dags test``), and the pipeline's ML Metadata on MariaDB. While
the Trainer trains, its task process is SIGKILLed (what the OOM killer or a lost node does);
Airflow must retry it and the run must still finish with consistent ML Metadata.

The servers are throw-away (tmp dirs, loopback, free ports) and stopped at the end; so are
the scheduler and every process it started (found by session id, never by name).
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import signal
import tempfile
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs, metadata_store
from tests.airflow_dags.airflow_cluster import (
    DAG_ID,
    TaskRun,
    airflow,
    airflow_env,
    component_executions,
    mlmd_store,
    pushed_destinations,
    run_context,
    run_state,
    scheduler_process,
    state_name,
    task_runs,
    trigger,
    wait_for_parsed_dag,
)
from tests.mariadb_server import MariaDB, running_mariadb
from tests.postgres_server import Postgres, running_postgres
from tests.support.waiting import wait_until

RELEASE_DAG_ID = "cifar10_release"
RUN_ID = "production-shape-test"
KILLED_TASK = "Trainer"
# Components with no path between them: both follow only the span task, so the scheduler
# queues them together and both start after a DAG parse (15-40 s). Measured: starts within
# 0.3 s of each other, ImportSchemaGen runs 1.5-3 s, ImportExampleGen 5-7 s.
PARALLEL_PAIR = ("ImportExampleGen", "ImportSchemaGen")
RUN_DEADLINE_S = 600


@dataclass
class Kill:
    """The Trainer attempt the test killed, and ML Metadata's execution at that moment."""

    pid: int
    try_number: int
    execution_id: int
    execution_state: str


@dataclass
class ProductionRun:
    postgres: Postgres
    mariadb: MariaDB
    output_root: Path
    run_state: str | None
    seconds: float
    tasks: dict[str, TaskRun]
    kill: Kill | None
    scheduler_log: Path
    timings: dict[str, float] = field(default_factory=dict)

    def query(self, statement: str, *params: Any) -> list[tuple]:
        return self.postgres.query(statement, params)


# --- the worker kill ---------------------------------------------------------------------------


def kill_if_training(pg: Postgres, store: Any) -> Kill | None:
    """SIGKILL the Trainer's task process once ML Metadata records its execution as RUNNING
    (the executor is training). The pid is Airflow's record of the task process; its title
    is checked first, so a reused pid is never hit."""
    rows = pg.query(
        "SELECT state, pid, try_number FROM task_instance WHERE dag_id = %s AND "
        "run_id = %s AND task_id = %s",
        (DAG_ID, RUN_ID, KILLED_TASK),
    )
    if not rows or rows[0][0] != "running" or rows[0][1] is None:
        return None
    _, pid, try_number = rows[0]
    running = [
        e for e in component_executions(store, RUN_ID, KILLED_TASK) if state_name(e) == "RUNNING"
    ]
    if not running:
        return None
    process = psutil.Process(pid)
    title = " ".join(process.cmdline())
    assert "airflow task runner" in title and KILLED_TASK in title, title
    process.send_signal(signal.SIGKILL)
    return Kill(pid, try_number, running[0].id, state_name(running[0]))


@pytest.fixture(scope="module")
def production_run(shared_data) -> Iterator[ProductionRun]:
    """One triggered run, the Trainer killed once. Its own temp dir, not pytest's numbered
    ones: another pytest session may rotate those away during a run of several minutes. Kept
    (path printed) when the run did not succeed, for its scheduler and task logs."""
    tmp = Path(tempfile.mkdtemp(prefix="cifar10-production-airflow-"))
    print(f"production Airflow test dir: {tmp}")
    run = None
    try:
        run = yield from _production_run(tmp, shared_data)
    finally:
        if run is not None and run.run_state == "success":
            shutil.rmtree(tmp, ignore_errors=True)


def _production_run(tmp: Path, shared_data: Path) -> Generator[ProductionRun, None, ProductionRun]:
    started = time.monotonic()
    timings: dict[str, float] = {}
    with running_mariadb(tmp / "mariadb") as mdb, running_postgres(tmp / "postgres") as pg:
        env = airflow_env(tmp / "airflow", pg, mdb, shared_data, tmp / "out")
        airflow(env, "db", "migrate", timeout=300)
        timings["servers + db migrate"] = time.monotonic() - started
        log = tmp / "scheduler.log"
        kill = None
        with scheduler_process(env, log) as scheduler:
            next_run = wait_for_parsed_dag(pg, scheduler)
            timings["scheduler parsed the DAG"] = time.monotonic() - started
            trigger(env, RUN_ID, next_run)
            triggered = time.monotonic()
            store = mlmd_store(mdb)
            state = None

            def finished() -> bool:
                nonlocal kill, state
                state = run_state(pg, RUN_ID)
                if state in ("success", "failed"):
                    return True
                scheduler.check_running()
                if kill is None:
                    kill = kill_if_training(pg, store)
                return False

            # Past the deadline the run is kept as it stands: the tests report its tasks.
            with contextlib.suppress(TimeoutError):
                wait_until(
                    finished, f"run {RUN_ID} to finish", timeout=RUN_DEADLINE_S, interval=0.5
                )
            timings["triggered -> run finished"] = time.monotonic() - triggered
        print(f"timings (s): { {k: round(v) for k, v in timings.items()} }")
        run = ProductionRun(
            pg,
            mdb,
            tmp / "out",
            state,
            time.monotonic() - started,
            task_runs(pg, RUN_ID),
            kill,
            log,
            timings,
        )
        yield run
    return run


def intervals_overlap(a: TaskRun, b: TaskRun) -> bool:
    assert a.start and a.end and b.start and b.end
    return a.start < b.end and b.start < a.end


def independent_pairs(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Pairs of components with no path between them: the ones that may run side by side."""

    def ancestors(node: str) -> set[str]:
        found: set[str] = set()
        stack = list(graph[node])
        while stack:
            up = stack.pop()
            if up not in found:
                found.add(up)
                stack.extend(graph[up])
        return found

    return {
        frozenset((a, b))
        for a, b in itertools.combinations(graph, 2)
        if a not in ancestors(b) and b not in ancestors(a)
    }


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_scheduler_runs_every_task_to_success(production_run, component_graph):
    run = production_run
    assert run.run_state == "success", (
        f"{ {t: (r.state, r.try_number) for t, r in run.tasks.items()} }; scheduler and task "
        f"logs in {run.scheduler_log.parent}"
    )
    expected = {*component_graph, settings.PREPARE_TASK_ID}
    assert {task: t.state for task, t in run.tasks.items()} == dict.fromkeys(expected, "success")
    # A real scheduler and LocalExecutor workers ran it (``dags test`` records neither).
    jobs = dict(run.query("SELECT job_type, count(*) FROM job GROUP BY job_type"))
    assert jobs.get("SchedulerJob") == 1
    assert jobs.get("LocalTaskJob", 0) >= len(expected)
    # One run only (the triggered one took the scheduled date); the release DAG stayed off.
    assert run.query("SELECT run_id, run_type FROM dag_run WHERE dag_id = %s", DAG_ID) == [
        (RUN_ID, "manual")
    ]
    assert run.query("SELECT count(*) FROM dag_run WHERE dag_id = %s", RELEASE_DAG_ID) == [(0,)]
    assert run.query("SELECT is_paused FROM dag WHERE dag_id = %s", RELEASE_DAG_ID) == [(True,)]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_independent_components_ran_in_parallel(production_run, component_graph):
    """ML Metadata on MySQL lifts SQLite's one-task-at-a-time limit, and the LocalExecutor
    uses it: the two components with no path between them overlapped in time."""
    assert frozenset(PARALLEL_PAIR) in independent_pairs(component_graph)
    (max_tasks,) = production_run.query(
        "SELECT max_active_tasks FROM dag WHERE dag_id = %s", DAG_ID
    )
    assert max_tasks == (settings.PARALLEL_MAX_ACTIVE_TASKS,)
    first, second = (production_run.tasks[t] for t in PARALLEL_PAIR)
    assert intervals_overlap(first, second), (first, second)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_model_was_pushed_once(production_run):
    model_dir = configs.serving_root(production_run.output_root) / configs.MODEL_NAME
    (version,) = [p for p in model_dir.iterdir() if p.name.isdigit()]
    assert (version / "saved_model.pb").is_file()
    assert (version / "variables").is_dir()
    store = mlmd_store(production_run.mariadb)
    assert pushed_destinations(store, RUN_ID) == [str(version)]
    assert not configs.metadata_path(production_run.output_root).exists(), "no SQLite store"


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_killed_trainer_was_retried_without_corrupting_metadata(production_run, component_graph):
    """The Trainer's process died mid-training (SIGKILL, no clean-up of any kind). Airflow
    failed the attempt and retried it once; the retry moved the dead attempt's record aside
    (``supersede_earlier_attempt`` in the DAG: TFX's own retry path re-puts existing events
    and fails), so every component of the run ends with exactly one execution, complete or
    cached, the dead attempt's execution is FAILED rather than RUNNING forever, and the run
    has exactly one model."""
    kill = production_run.kill
    assert kill is not None, "the Trainer was never seen training, so it was never killed"
    assert (kill.try_number, kill.execution_state) == (1, "RUNNING")
    trainer = production_run.tasks[KILLED_TASK]
    assert (trainer.state, trainer.try_number) == ("success", 2)
    history = production_run.query(
        "SELECT try_number, state FROM task_instance_history WHERE dag_id = %s AND "
        "run_id = %s AND task_id = %s",
        DAG_ID,
        RUN_ID,
        KILLED_TASK,
    )
    assert history in ([(1, "failed")], [(1, "up_for_retry")]), history
    others = {t: r.try_number for t, r in production_run.tasks.items() if t != KILLED_TASK}
    assert set(others.values()) == {1}, others

    store = mlmd_store(production_run.mariadb)
    for component in component_graph:
        executions = component_executions(store, RUN_ID, component)
        assert [state_name(e) for e in executions] in (["COMPLETE"], ["CACHED"]), component
    (execution,) = component_executions(store, RUN_ID, KILLED_TASK)
    assert execution.id != kill.execution_id and state_name(execution) == "COMPLETE"
    (dead,) = store.get_executions_by_id([kill.execution_id])
    assert state_name(dead) == "FAILED"
    component_run = store.get_context_type("component_run").id
    (dead_context,) = [
        c for c in store.get_contexts_by_execution(dead.id) if c.type_id == component_run
    ]
    assert dead_context.name == f"{configs.PIPELINE_NAME}.{RUN_ID}.{KILLED_TASK}.superseded-" + (
        str(dead_context.id)
    )
    run = run_context(store, RUN_ID)
    states = sorted(state_name(e) for e in store.get_executions_by_context(run.id))
    assert set(states) <= {"COMPLETE", "CACHED", "FAILED"}, states
    assert states.count("FAILED") == 1, states
    model_type = store.get_artifact_type("Model").id
    models = [
        a
        for a in store.get_artifacts_by_context(run.id)
        if a.type_id == model_type and a.state == a.LIVE
    ]
    assert len(models) == 1, models
    (evaluation,) = component_executions(store, RUN_ID, "Evaluator")
    evaluated = {
        e.artifact_id
        for e in store.get_events_by_execution_ids([evaluation.id])
        if e.type == e.INPUT
    }
    assert models[0].id in evaluated, "the Evaluator took the retry's model, not the dead one"


# --- the same shape in deploy/airflow/ (quick: parses the files) -----------------------------

DEPLOY = configs.REPO_ROOT / "deploy" / "airflow"


def test_compose_puts_ml_metadata_on_its_mariadb_service():
    import yaml

    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    services = compose["services"]
    for name in ("airflow-init", "airflow-webserver", "airflow-scheduler", "airflow-worker"):
        env = services[name]["environment"]
        address = metadata_store.parse_mysql_address(env[metadata_store.MYSQL_ENV])
        db = services[address.host]
        assert db["image"].startswith(("mariadb:", "mysql:")), name
        assert address.port == 3306 and db["environment"]["MARIADB_DATABASE"] == address.database
        assert db["environment"]["MARIADB_USER"] == env[metadata_store.MYSQL_USER_ENV]
        assert services[name]["depends_on"][address.host]["condition"] == "service_healthy"
        # The password is interpolated from the shell or .env, and compose refuses to start
        # without one: no literal, no default.
        password = env[metadata_store.MYSQL_PASSWORD_ENV]
        assert password.startswith("${CIFAR10_MYSQL_PASSWORD:?"), password
        assert db["environment"]["MARIADB_PASSWORD"] == password
        assert env[settings.RETRY_DELAY_ENV].endswith(
            f":-{int(settings.RETRY_DELAY.total_seconds())}}}"
        )
        assert int(env["AIRFLOW__SCHEDULER__ZOMBIE_DETECTION_INTERVAL"]) >= (
            settings.ZOMBIE_DETECTION_INTERVAL_SECONDS
        )


def test_helm_values_take_ml_metadata_credentials_from_a_secret():
    import yaml

    values = yaml.safe_load((DEPLOY / "values.yaml").read_text())
    env = {e["name"]: e["value"] for e in values["env"]}
    metadata_store.parse_mysql_address(env[metadata_store.MYSQL_ENV])
    assert not set(settings.SECRET_ENV_NAMES) & set(env), "credentials never as values"
    secrets = {s["envName"]: s for s in values["secret"]}
    assert set(secrets) == set(settings.SECRET_ENV_NAMES)
    assert len({s["secretName"] for s in secrets.values()}) == 1
    assert values["config"]["scheduler"]["zombie_detection_interval"] >= (
        settings.ZOMBIE_DETECTION_INTERVAL_SECONDS
    )
    readme = (DEPLOY / "README.md").read_text()
    assert f"create secret generic {secrets[metadata_store.MYSQL_USER_ENV]['secretName']}" in readme
    for name in settings.SECRET_ENV_NAMES:
        assert name in readme, name
