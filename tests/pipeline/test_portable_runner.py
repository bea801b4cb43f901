"""The Beam-powered components on Beam's PortableRunner, the way Flink and Spark clusters
run Python pipelines: a job service and an external worker pool, each its own process
(Beam's own ``local_job_service_main`` and ``worker_pool_main``). Slow: a real pipeline run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from pipeline import configs, summary
from tests.conftest import run_pipeline
from tests.support.ports import accepts_connections, free_port
from tests.support.processes import running_process

pytestmark = pytest.mark.slow
# Transform is a Beam component too, but with no analyzers and no materialized examples it
# submits no Beam job: the graph is written without reading the data.
BEAM_JOBS = ("ImportExampleGen", "StatisticsGen", "Evaluator")


def _python_module(args: list[str], log: Path, work: Path, what: str):
    """``python -m <args>`` in its own session, so stopping it also ends the SDK workers the
    pool starts; the worker pool starts them as ``python ...``: this venv's python first."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return running_process(
        [sys.executable, "-m", *args],
        log,
        what=what,
        own_session=True,
        stop_timeout=20,
        cwd=work,
        env=env,
    )


@pytest.fixture(scope="module")
def portable_cluster(tmp_path_factory):
    """A job service and a worker pool on free loopback ports, in a folder of their own."""
    work = tmp_path_factory.mktemp("portable")
    job_port, pool_port = free_port(), free_port()
    job_log, pool_log = work / "job_service.log", work / "worker_pool.log"
    job_service = _python_module(
        [
            "apache_beam.runners.portability.local_job_service_main",
            "-p",
            str(job_port),
            "--staging_dir",
            str(work / "staging"),
        ],
        job_log,
        work,
        "Beam's job service",
    )
    worker_pool = _python_module(
        ["apache_beam.runners.worker.worker_pool_main", "--service_port", str(pool_port)],
        pool_log,
        work,
        "Beam's worker pool",
    )
    with job_service as job, worker_pool as pool:
        job.wait_for_log("Listening for beam jobs", timeout=90)
        # The pool prints nothing until asked for a worker: ready when its port answers.
        pool.wait_ready(lambda: accepts_connections(pool_port), timeout=90)
        yield {
            "beam_args": [
                "--runner=PortableRunner",
                f"--job_endpoint=localhost:{job_port}",
                "--environment_type=EXTERNAL",
                f"--environment_config=localhost:{pool_port}",
            ],
            "job_log": job_log,
            "pool_log": pool_log,
            "staging": work / "staging",
        }


def test_pipeline_runs_its_beam_components_on_the_portable_runner(
    portable_cluster, tmp_path, capsys
):
    run = run_pipeline(
        tmp_path / "out",
        "--limit",
        "300",
        "--epochs",
        "1",
        "--accuracy-lower-bound",
        "0",
        "--",
        *portable_cluster["beam_args"],
        capsys=capsys,
    )
    assert run.exit_code == 0, run.stdout
    assert len(run.versions()) == 1, "the model was pushed"
    result = summary.read_run(configs.metadata_path(run.output_root))
    for node in (*BEAM_JOBS, "Transform"):
        assert result.components[node] == "COMPLETE", result.components
    # Every Beam component was a job of the job service ...
    jobs = [p for p in portable_cluster["staging"].iterdir() if p.is_dir()]
    assert len(jobs) == len(BEAM_JOBS), jobs
    # ... that shipped the project as a package built from setup.py (--setup_file) ...
    for job in jobs:
        assert list(job.glob("*workflow.tar.gz")), f"no staged project package in {job}"
    # ... and ran in SDK workers the external pool started as processes of their own.
    assert portable_cluster["pool_log"].read_text().count("Starting worker") >= 1
    assert "Running job" in portable_cluster["job_log"].read_text()


def test_runner_args_reach_beam_unchanged():
    flink = [
        "--runner=FlinkRunner",
        "--flink_master=flink:8081",
        "--flink_job_server_jar=/opt/beam-flink-job-server.jar",
        "--parallelism=4",
    ]
    args = configs.beam_pipeline_args(extra=flink)
    assert args[-len(flink) :] == flink
    assert not any(a.startswith("--direct_") for a in args)
    assert any(a.startswith("--setup_file=") for a in args), "the project ships to workers"
