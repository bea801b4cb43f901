"""DAG ``cifar10_release``: parsed by a real Airflow DagBag (only that file, so no TFX import:
quick), its task graph and settings; its callables without Airflow."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from airflow_dags import cifar10_airflow_settings as settings
from ingest import settings as ingest_settings
from pipeline import configs
from rollout.release import cli
from rollout.state import StatePaths
from tests.airflow_dags.conftest import DAGS_FOLDER, airflow_env

DAG_FILE = DAGS_FOLDER / "cifar10_release_dag.py"

PARSE_PROBE = textwrap.dedent("""
    import json, sys, time
    started = time.monotonic()
    from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    dag = bag.dags.get("cifar10_release")
    out = {"seconds": time.monotonic() - started, "import_errors": bag.import_errors,
           "dag_ids": sorted(bag.dag_ids),
           "heavy": sorted(m for m in ("tensorflow", "tfx", "rollout.release.cli")
                           if m in sys.modules)}
    if dag is not None:
        out.update(schedule=str(dag.schedule_interval), catchup=dag.catchup,
                   max_active_runs=dag.max_active_runs, tasks={
                       t.task_id: {"upstream": sorted(t.upstream_task_ids),
                                   "retries": t.retries, "class": type(t).__name__,
                                   "mode": getattr(t, "mode", None),
                                   "soft_fail": getattr(t, "soft_fail", None)}
                       for t in dag.tasks})
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, default=str)
""")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("release-dag")
    env = airflow_env(tmp / "airflow", CIFAR10_OUTPUT_ROOT=str(tmp / "outputs"))
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAG_FILE), str(tmp / "result.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp / "result.json").read_text())
    result["outputs_created"] = (tmp / "outputs").exists()
    return result


def test_the_release_dag_parses_without_errors_or_heavy_imports(parsed):
    assert parsed["import_errors"] == {}
    assert parsed["dag_ids"] == ["cifar10_release"]
    assert parsed["heavy"] == []  # TF/TFX and the release code load when the task runs
    assert not parsed["outputs_created"]


def test_the_release_dag_task_graph(parsed):
    tasks = parsed["tasks"]
    assert set(tasks) == {"wait_for_retrain_request", "retrain_and_release"}
    sensor, run = tasks["wait_for_retrain_request"], tasks["retrain_and_release"]
    assert sensor["class"] == "PythonSensor" and sensor["upstream"] == []
    assert sensor["mode"] == "reschedule" and sensor["soft_fail"] is True
    assert run["upstream"] == ["wait_for_retrain_request"]
    assert run["retries"] == 0  # a claimed request must not be retrained by a retry
    assert parsed["catchup"] is False and parsed["max_active_runs"] == 1
    assert parsed["schedule"] == "0:10:00"


def test_scheduled_argv_takes_the_pipelines_settings_and_extra_flags():
    argv = settings.release_argv(
        {
            configs.OUTPUT_ROOT_ENV: "/o",
            ingest_settings.DATA_ROOT_ENV: "/d",
            settings.RELEASE_ARGS_ENV: "--server http://s:8501 --router 'http://r:8601'",
        }
    )
    assert argv == [
        "--if-retrain-requested",
        "--output-root",
        "/o",
        "--data-root",
        "/d",
        "--server",
        "http://s:8501",
        "--router",
        "http://r:8601",
    ]
    assert settings.release_argv({}) == ["--if-retrain-requested"]


def test_the_sensor_sees_a_pending_request(tmp_path):
    assert not settings.retrain_request_pending({configs.OUTPUT_ROOT_ENV: str(tmp_path)})
    paths = StatePaths.for_output_root(tmp_path)
    paths.root.mkdir(parents=True)
    paths.retrain_request.write_text('{"id": "r1", "reason": "drift"}')
    assert settings.retrain_request_pending({configs.OUTPUT_ROOT_ENV: str(tmp_path)})


def test_a_release_that_does_not_serve_the_new_model_fails_the_task(monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv: seen.append(argv) or 3)
    with pytest.raises(RuntimeError, match="exited 3"):
        settings.run_release({configs.OUTPUT_ROOT_ENV: str(tmp_path)})
    monkeypatch.setattr(cli, "main", lambda argv: 0)
    assert settings.run_release({}) == 0
    assert seen == [["--if-retrain-requested", "--output-root", str(tmp_path)]]
