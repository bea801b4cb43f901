"""The DAG in a real Airflow: parsed by a DagBag, then run whole with ``airflow dags test``."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_dags import cifar10_airflow_settings as settings
from pipeline import configs
from tests.airflow_dags.conftest import (
    DAGS_FOLDER,
    airflow_env,
    latest_dag_run,
    pushed_models,
    run_airflow_test_script,
)
from tests.cifar_fixtures import write_cifar_layout

PARSE_PROBE = textwrap.dedent("""
    import json, sys, time
    from airflow.models.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
    out = {"seconds": time.monotonic() - started, "import_errors": bag.import_errors,
           "dag_ids": sorted(bag.dag_ids), "files": sorted(s.file for s in bag.dagbag_stats)}
    dag = bag.dags.get(sys.argv[2])
    if dag is not None:
        out.update(schedule=dag.schedule_interval, catchup=dag.catchup, owner=dag.owner,
                   max_active_runs=dag.max_active_runs,
                   max_active_tasks=dag.max_active_tasks, tasks={
                       t.task_id: {"upstream": sorted(t.upstream_task_ids),
                                   "retries": t.retries, "class": type(t).__name__}
                       for t in dag.tasks})
    with open(sys.argv[3], "w") as f:
        json.dump(out, f, default=str)
""")


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict:
    """One DagBag parse of the DAG folder, in a fresh Airflow, with an empty TMPDIR and an
    output root that does not exist yet (so any parse-time side effect shows)."""
    tmp = tmp_path_factory.mktemp("parse")
    (tmp / "tmpdir").mkdir()
    env = airflow_env(
        tmp / "airflow", TMPDIR=str(tmp / "tmpdir"), CIFAR10_OUTPUT_ROOT=str(tmp / "outputs")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            PARSE_PROBE,
            str(DAGS_FOLDER),
            settings.AIRFLOW_DAG_ID,
            str(tmp / "result.json"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp / "result.json").read_text())
    result["tmp"] = tmp
    print(f"DAG folder parsed in {result['seconds']:.1f} s")
    return result


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dag_imports_without_errors(parsed):
    assert parsed["import_errors"] == {}
    assert parsed["dag_ids"] == sorted([settings.AIRFLOW_DAG_ID, "cifar10_release"])
    assert sorted(Path(f).name for f in parsed["files"]) == [
        "cifar10_pipeline_dag.py",
        "cifar10_release_dag.py",
    ], ".airflowignore keeps the settings module out of the DagBag"
    assert parsed["seconds"] < settings.DAGBAG_IMPORT_TIMEOUT_SECONDS


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_parsing_writes_nothing(parsed):
    """tfx#4381: no user-module wheel, no sdist, no folders; safe to parse concurrently."""
    tmp = parsed["tmp"]
    assert not (tmp / "outputs").exists()
    assert sorted(p.name for p in (tmp / "tmpdir").iterdir()) == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_task_graph_is_the_component_graph(parsed, component_graph):
    tasks = parsed["tasks"]
    prep = settings.PREPARE_TASK_ID
    assert set(tasks) == set(component_graph) | {prep}
    assert tasks[prep]["upstream"] == []
    for component, upstream in component_graph.items():
        expected = upstream or {prep}  # the span comes before every component
        assert set(tasks[component]["upstream"]) == expected, component
    assert tasks["ImportExampleGen"]["upstream"] == [prep]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_dag_settings(parsed):
    assert parsed["schedule"] == settings.AIRFLOW_SCHEDULE
    assert parsed["catchup"] is False
    assert parsed["max_active_runs"] == parsed["max_active_tasks"] == 1
    assert parsed["owner"] == settings.OWNER
    retries = {task: info["retries"] for task, info in parsed["tasks"].items()}
    assert retries.pop("AnomaliesGate") == 0, "bad data does not get better on retry"
    assert set(retries.values()) == {settings.DEFAULT_RETRIES}
    assert parsed["tasks"]["Trainer"]["class"] == "AirflowComponent"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_dag_run_pushes_a_model(tmp_path, shared_data, component_graph):
    """The whole DAG on 300 + 300 real images, one epoch: every task succeeds, a model lands
    in the TF Serving layout, and ML Metadata ties the push to this Airflow run."""
    proc = run_airflow_test_script(
        tmp_path,
        timeout=800,
        CIFAR10_DATA_ROOT=str(shared_data),
        CIFAR10_OUTPUT_ROOT=str(tmp_path / "out"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = latest_dag_run(tmp_path / "airflow" / "airflow.db")
    assert run.state == "success"
    assert run.tasks == {
        task: ("success", 1) for task in [*component_graph, settings.PREPARE_TASK_ID]
    }

    model_dir = configs.serving_root(tmp_path / "out") / configs.MODEL_NAME
    (version,) = [p for p in model_dir.iterdir() if p.name.isdigit()]
    assert (version / "saved_model.pb").is_file()
    assert f"models in {model_dir}: {version.name}" in proc.stdout
    metadata_db = configs.metadata_path(tmp_path / "out")
    assert pushed_models(metadata_db, run.run_id) == [str(version)]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_anomalies_fail_their_task_and_stop_the_run(tmp_path):
    """Labels out of range: AnomaliesGate fails once (no retry even with retries on), the
    rest of the run never starts, the script exits non-zero and nothing is pushed."""
    data = write_cifar_layout(tmp_path / "raw", per_batch=10, n_test=10, labels=[12] * 10)
    served = configs.serving_root(tmp_path / "out") / configs.MODEL_NAME / "1"
    served.mkdir(parents=True)
    (served / "saved_model.pb").write_bytes(b"previous model")

    proc = run_airflow_test_script(
        tmp_path,
        timeout=500,
        CIFAR10_DATA_ROOT=str(data),
        CIFAR10_OUTPUT_ROOT=str(tmp_path / "out"),
        CIFAR10_AIRFLOW_RETRIES="2",
    )
    assert proc.returncode != 0
    assert "FAILED: not every task succeeded" in proc.stdout
    error = proc.stdout.split("first error:", 1)[1]
    assert "ExampleValidator found anomalies" in error and "feature 'label'" in error

    run = latest_dag_run(tmp_path / "airflow" / "airflow.db")
    states = run.tasks
    assert run.state == "failed"
    assert states["AnomaliesGate"] == ("failed", 1)
    for task in ("prepare_input_span", "ImportExampleGen", "StatisticsGen", "ExampleValidator"):
        assert states[task][0] == "success", task
    for task in ("Transform", "Trainer", "Evaluator", "Pusher"):
        assert states[task][0] in ("upstream_failed", None), task

    assert pushed_models(configs.metadata_path(tmp_path / "out"), run.run_id) == []
    assert [p.name for p in served.parent.iterdir()] == ["1"]
    assert (served / "saved_model.pb").read_bytes() == b"previous model"
