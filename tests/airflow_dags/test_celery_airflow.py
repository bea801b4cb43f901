"""The DAG on Airflow's CeleryExecutor, its two workers on hosts of their own.

deploy/airflow/docker-compose.yaml's shape, run for real: Redis as Celery's broker
(Debian's ``redis-server``), PostgreSQL as Airflow's metadata DB and Celery's result backend,
MariaDB for ML Metadata, an ``airflow scheduler`` on this machine and two
``airflow celery worker`` processes, each on a host of its own: a network namespace with its
own address and hostname (tests/airflow_dags/worker_hosts.py). The servers listen only on
the test's own address (10.231.0.1), which the worker hosts reach over their veth links; the
output root is one folder every worker sees, as a shared volume would be.

During one triggered run:
- the scheduler is SIGKILLed while a task runs on a worker, and a new one is started: it
  must adopt the running task and schedule the rest;
- the worker host running the Trainer is powered off mid-training (every process in its
  namespace SIGKILLed): the attempt's heartbeat stops, the scheduler finds the zombie and
  fails the attempt, and the retry must run on the other host.
The run must then succeed with its artifacts on the shared root and ML Metadata agreeing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs
from tests.airflow_dags import worker_hosts
from tests.airflow_dags.airflow_cluster import (
    AIRFLOW,
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
from tests.airflow_dags.redis_server import Redis, running_redis
from tests.airflow_dags.worker_hosts import WorkerHost
from tests.mariadb_server import MariaDB, running_mariadb
from tests.postgres_server import Postgres, running_postgres
from tests.support.processes import StartedProcess, running_process
from tests.support.waiting import wait_until

RUN_ID = "celery-two-hosts"
KILLED_TASK = "Trainer"
# The scheduler is killed while this task runs (well before the Trainer, so the new
# scheduler has parsed the DAG by the time the worker host goes down).
SCHEDULER_KILLED_DURING = "StatisticsGen"
WORKERS = 2
RUN_DEADLINE_S = 900
# A task whose heartbeat (every 5 s) has stopped this long is a zombie. Zombies are looked
# for every 60 s: above the DAG's parse time (apache/airflow#51969, see airflow_cluster).
ZOMBIE_THRESHOLD_S = 30
SCHEDULER_JOBS = "SELECT id FROM job WHERE job_type = 'SchedulerJob' ORDER BY id"


@dataclass
class HostKill:
    hostname: str
    try_number: int
    execution_id: int
    pids: list[int]
    at: datetime


@dataclass
class CeleryRun:
    postgres: Postgres
    mariadb: MariaDB
    output_root: Path
    hosts: list[WorkerHost]
    run_state: str | None
    tasks: dict[str, TaskRun]
    history: list[tuple[str, int, str | None, str | None]]  # task, try, state, hostname
    host_kill: HostKill | None
    scheduler_jobs: list[int]  # SchedulerJob ids, oldest first
    leftover_namespaces: set[str]
    workdir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def query(self, statement: str, *params: Any) -> list[tuple]:
        return self.postgres.query(statement, params)


def celery_env(base: dict[str, str], pg: Postgres, redis: Redis) -> dict[str, str]:
    """deploy/airflow/docker-compose.yaml's Celery settings, plus the test's timings."""
    return {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": redis.url(),
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + pg.sqlalchemy_url().replace("+psycopg2", ""),
        # One task per worker at a time (each imports TFX), and no prefetching beyond it, so
        # queued tasks spread over both hosts.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
        # Sending to the broker may take longer than 1 s while TensorFlow fills both cores.
        "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        # Workers load TFX once, before forking their pool (as deploy/airflow/ configures them).
        "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "celery_worker_config.CELERY_CONFIG",
        "AIRFLOW__SCHEDULER__SCHEDULER_ZOMBIE_TASK_THRESHOLD": str(ZOMBIE_THRESHOLD_S),
        # A killed scheduler's running tasks are adopted once its heartbeat is this old.
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20",
        "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
    }


def worker_process(
    host: WorkerHost, env: dict[str, str], workdir: Path
) -> contextlib.AbstractContextManager[StartedProcess]:
    """``airflow celery worker`` on ``host``; its pid file is its own (the default one in
    AIRFLOW_HOME would stop the second worker)."""
    command = [
        AIRFLOW,
        "celery",
        "worker",
        "--concurrency",
        "1",
        # Celery's node name (Airflow passes None without it, which Celery 5.6 cannot split).
        "--celery-hostname",
        f"celery@{host.hostname}",
        "--pid",
        str(workdir / f"{host.hostname}.pid"),
        "--skip-serve-logs",
        "--without-mingle",
        "--without-gossip",
    ]
    return running_process(
        host.command(command),
        workdir / f"{host.hostname}.log",
        what=f"celery worker on {host.hostname}",
        own_session=True,
        stop_timeout=20,
        env=env,
    )


def wait_for_workers(workers: list[StartedProcess]) -> None:
    """Each worker has connected to the broker (Celery logs "celery@<host> ready.")."""
    for worker in workers:
        worker.wait_for_log(" ready.", timeout=180)


def power_off_if_training(
    pg: Postgres, store: Any, hosts: dict[str, WorkerHost]
) -> HostKill | None:
    """Once the Trainer trains (Airflow: running on a known host; ML Metadata: its execution
    RUNNING), power that host off."""
    rows = pg.query(
        "SELECT state, hostname, try_number FROM task_instance WHERE dag_id = %s AND "
        "run_id = %s AND task_id = %s",
        (DAG_ID, RUN_ID, KILLED_TASK),
    )
    if not rows or rows[0][0] != "running" or rows[0][1] not in hosts:
        return None
    _, hostname, try_number = rows[0]
    running = [
        e for e in component_executions(store, RUN_ID, KILLED_TASK) if state_name(e) == "RUNNING"
    ]
    if not running:
        return None
    at = datetime.now(timezone.utc)
    pids = hosts[hostname].power_off()
    return HostKill(hostname, try_number, running[0].id, pids, at)


def task_state(pg: Postgres, task: str) -> str | None:
    rows = pg.query(
        "SELECT state FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = %s",
        (DAG_ID, RUN_ID, task),
    )
    return rows[0][0] if rows else None


@pytest.fixture(scope="module")
def celery_run(shared_data) -> Iterator[CeleryRun]:
    """One triggered run with a scheduler crash and a worker host lost. Its own temp dir
    (kept, path printed, when the run did not succeed: scheduler, worker and task logs)."""
    worker_hosts.require_network_namespaces()
    tmp = Path(tempfile.mkdtemp(prefix="cifar10-celery-airflow-"))
    os.chmod(tmp, 0o755)  # PostgreSQL's server user reads nothing here, but logs are shared
    print(f"Celery Airflow test dir: {tmp}")
    run = None
    try:
        run = yield from _celery_run(tmp, shared_data)
    finally:
        if run is not None and run.run_state == "success":
            shutil.rmtree(tmp, ignore_errors=True)


def _celery_run(tmp: Path, shared_data: Path) -> Generator[CeleryRun, None, CeleryRun]:
    started = time.monotonic()
    timings: dict[str, float] = {}

    def mark(what: str) -> None:
        timings[what] = round(time.monotonic() - started, 1)

    with contextlib.ExitStack() as servers:
        address = servers.enter_context(worker_hosts.server_address())
        mdb = servers.enter_context(running_mariadb(tmp / "mariadb", address))
        pg = servers.enter_context(running_postgres(tmp / "postgres", address))
        redis = servers.enter_context(running_redis(tmp / "redis", address))
        base = airflow_env(tmp / "airflow", pg, mdb, shared_data, tmp / "out")
        env = celery_env(base, pg, redis)
        airflow(env, "db", "migrate", timeout=300)
        mark("servers + db migrate")
        with contextlib.ExitStack() as cluster:
            hosts = cluster.enter_context(worker_hosts.worker_hosts(WORKERS))
            state, host_kill = _run_with_faults(cluster, env, pg, mdb, hosts, tmp, mark)
        # Workers, scheduler and hosts are gone; the servers stay up for the assertions.
        mark("cluster torn down")
        print(f"timings (s since start): {timings}")
        run = CeleryRun(
            pg,
            mdb,
            tmp / "out",
            hosts,
            state,
            task_runs(pg, RUN_ID),
            pg.query(
                "SELECT task_id, try_number, state, hostname FROM task_instance_history"
                " WHERE dag_id = %s AND run_id = %s",
                (DAG_ID, RUN_ID),
            ),
            host_kill,
            [
                i
                for (i,) in pg.query(
                    "SELECT id FROM job WHERE job_type = 'SchedulerJob' ORDER BY id"
                )
            ],
            {h.netns for h in hosts} & worker_hosts.existing_namespaces(),
            tmp,
            timings,
        )
        yield run
    return run


def _run_with_faults(
    cluster: contextlib.ExitStack,
    env: dict[str, str],
    pg: Postgres,
    mdb: MariaDB,
    hosts: list[WorkerHost],
    tmp: Path,
    mark: Callable[[str], None],
) -> tuple[str | None, HostKill | None]:
    """Start the workers and the scheduler, trigger the run, crash the scheduler and lose a
    worker host on the way; the run's final state (None past the deadline) and the loss."""
    workers = [cluster.enter_context(worker_process(h, env, tmp)) for h in hosts]
    scheduler = cluster.enter_context(scheduler_process(env, tmp / "scheduler-1.log"))
    next_run = wait_for_parsed_dag(pg, scheduler)
    wait_for_workers(workers)
    mark("scheduler parsed the DAG, workers ready")
    trigger(env, RUN_ID, next_run)
    by_name = {h.hostname: h for h in hosts}
    host_kill: HostKill | None = None
    restarted = False
    state = None
    store = None

    def finished() -> bool:
        nonlocal host_kill, restarted, scheduler, state, store
        state = run_state(pg, RUN_ID)
        if state in ("success", "failed"):
            return True
        scheduler.check_running()
        if not restarted and task_state(pg, SCHEDULER_KILLED_DURING) == "running":
            # A crash, not a shutdown: the whole session at once, no clean-up.
            os.killpg(scheduler.pid, signal.SIGKILL)
            scheduler.stop()
            mark("scheduler killed")
            scheduler = cluster.enter_context(scheduler_process(env, tmp / "scheduler-2.log"))
            restarted = True
        if store is None and task_state(pg, settings.PREPARE_TASK_ID) == "success":
            # Opened only once the first task has created ML Metadata's schema: two clients
            # opening an empty database at once may fail ("MLMDEnv table exists but no
            # schema_version"), and the test must not be the second one.
            store = mlmd_store(mdb)
        if host_kill is None and store is not None:
            host_kill = power_off_if_training(pg, store, by_name)
            if host_kill is not None:
                mark(f"{host_kill.hostname} powered off")
        return False

    with contextlib.suppress(TimeoutError):  # the tests report a run that did not finish
        wait_until(finished, f"run {RUN_ID} to finish", timeout=RUN_DEADLINE_S, interval=0.5)
    mark("run finished")
    return state, host_kill


def failure_report(run: CeleryRun) -> str:
    states = {t: (r.state, r.try_number, r.hostname) for t, r in run.tasks.items()}
    return f"{states}; logs in {run.workdir}"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_run_succeeds_with_tasks_on_both_worker_hosts(celery_run, component_graph):
    run = celery_run
    assert run.run_state == "success", failure_report(run)
    expected = {*component_graph, settings.PREPARE_TASK_ID}
    assert {t: r.state for t, r in run.tasks.items()} == dict.fromkeys(expected, "success")
    names = {h.hostname for h in run.hosts}
    ran_on = {r.hostname for r in run.tasks.values()} | {h for *_, h in run.history}
    assert ran_on == names, ran_on  # every attempt on a worker host, and both hosts used
    assert not run.leftover_namespaces, "worker hosts outlived the test"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_trainer_of_a_lost_host_finished_on_the_other(celery_run, component_graph):
    run = celery_run
    kill = run.host_kill
    assert kill is not None, f"the Trainer was never seen training: {failure_report(run)}"
    assert kill.pids, "the powered-off host had no processes"
    assert kill.try_number == 1
    trainer = run.tasks[KILLED_TASK]
    (survivor,) = {h.hostname for h in run.hosts} - {kill.hostname}
    assert (trainer.state, trainer.try_number, trainer.hostname) == ("success", 2, survivor)
    dead = [(t, s, h) for task, t, s, h in run.history if task == KILLED_TASK]
    assert dead == [(1, "failed", kill.hostname)] or dead == [(1, "up_for_retry", kill.hostname)], (
        dead
    )
    others = {t: r.try_number for t, r in run.tasks.items() if t != KILLED_TASK}
    assert set(others.values()) == {1}, f"only the Trainer was retried: {others}"
    # Every attempt that started after the host went down ran on the other one.
    later = {t: r.hostname for t, r in run.tasks.items() if r.start and r.start > kill.at}
    assert later and set(later.values()) == {survivor}, later
    store = mlmd_store(run.mariadb)
    (execution,) = component_executions(store, RUN_ID, KILLED_TASK)
    assert state_name(execution) == "COMPLETE" and execution.id != kill.execution_id
    (lost,) = store.get_executions_by_id([kill.execution_id])
    assert state_name(lost) == "FAILED", "the lost attempt's execution was left RUNNING"
    for component in component_graph:
        executions = component_executions(store, RUN_ID, component)
        assert [state_name(e) for e in executions] in (["COMPLETE"], ["CACHED"]), component


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_restarted_scheduler_picked_the_run_up(celery_run):
    run = celery_run
    assert len(run.scheduler_jobs) == 2, run.scheduler_jobs
    first, second = run.scheduler_jobs
    queued_by = dict(
        run.query(
            "SELECT task_id, queued_by_job_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
            DAG_ID,
            RUN_ID,
        )
    )
    assert queued_by[settings.PREPARE_TASK_ID] == first
    # Everything from the Trainer on was queued (or adopted) by the new scheduler.
    for task in (KILLED_TASK, "Evaluator", "Pusher"):
        assert queued_by[task] == second, (task, queued_by)
    assert run.run_state == "success", failure_report(run)


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_artifacts_on_the_shared_root_agree_with_ml_metadata(celery_run):
    run = celery_run
    store = mlmd_store(run.mariadb)
    live = [
        a
        for a in store.get_artifacts_by_context(run_context(store, RUN_ID).id)
        if a.state == a.LIVE
    ]
    assert live, "no artifacts recorded for the run"
    missing = [a.uri for a in live if not Path(a.uri).exists()]
    assert not missing, f"ML Metadata names artifacts no worker wrote: {missing}"
    root = str(configs.pipeline_root(run.output_root, configs.PIPELINE_NAME))
    outside = [a.uri for a in live if not a.uri.startswith((root, str(run.output_root)))]
    assert not outside, outside
    model_dir = configs.serving_root(run.output_root) / configs.MODEL_NAME
    (version,) = [p for p in model_dir.iterdir() if p.name.isdigit()]
    assert (version / "saved_model.pb").is_file()
    assert pushed_destinations(store, RUN_ID) == [str(version)]
