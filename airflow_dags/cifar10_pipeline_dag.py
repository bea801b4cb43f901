"""The CIFAR-10 TFX pipeline as an Airflow DAG: one task per TFX component.

Same ``pipeline.runner.build_pipeline(config)`` as ``beam_runner.py``; only the
orchestrator differs (TFX's AirflowDagRunner). A ``prepare_input_span`` task runs first and
turns new raw data into an input span; ImportExampleGen then takes the latest span.
Settings come from the environment (see ``cifar10_airflow_settings.py``).

Parsing stays cheap and side-effect free (tfx#4381): the module code is named by dotted
paths, so TFX packages no user-module wheel, and ``--setup_file`` in the Beam args stops the
Beam executors from building a TFX sdist (at task run time, never at parse). Parsing creates
no file or folder. The TFX import itself takes 20-40 s, hence the raised
``dagbag_import_timeout`` in every Airflow config that parses this file.

ML Metadata: SQLite under the output root by default (one task at a time), or MySQL when
``$CIFAR10_METADATA_MYSQL`` (or ``--metadata-mysql``) is set, which every multi-worker
deployment needs (KubernetesExecutor pods must never share one SQLite file). Missing MySQL
credentials fail the parse with an import error that names the variables.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # before TF: the model is a tf-keras model
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cifar10_airflow_settings as settings  # the DAG folder is on sys.path
from airflow.models.dag import DAG
from airflow.operators.python import PythonOperator
from ml_metadata.proto import metadata_store_pb2
from tfx.orchestration.airflow.airflow_dag_runner import (
    AirflowDagRunner,
    AirflowPipelineConfig,
)

from pipeline import configs, run_config, runner


def sqlite_metadata_config(path: str) -> metadata_store_pb2.ConnectionConfig:
    """TFX's ``sqlite_metadata_connection_config`` minus its ``makedirs``: parsing must not
    write to the output root (the scheduler may not even mount it); the first task creates
    the folder."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return config


def metadata_config(config: run_config.RunConfig) -> metadata_store_pb2.ConnectionConfig:
    """``runner.metadata_connection_config`` (MySQL when configured), except that SQLite
    goes through :func:`sqlite_metadata_config`, which creates no folder at parse."""
    if config.metadata_mysql is None:
        return sqlite_metadata_config(str(config.metadata_path))
    return runner.metadata_connection_config(config)


def supersede_earlier_attempt(
    connection: metadata_store_pb2.ConnectionConfig,
    pipeline_name: str,
    run_id: str,
    component_id: str,
) -> None:
    """Make a task's retry possible: move an earlier attempt's ML Metadata record aside.

    TFX's Airflow launcher keys a component's execution by a ``component_run`` context named
    ``<pipeline>.<run_id>.<component>``. A retry finds that context and re-puts the same
    input events into the old execution, which ML Metadata rejects ("Given event already
    exists"): without this, every retry of a component fails at once (found with a
    SIGKILLed Trainer, tests/airflow_dags/test_production_airflow.py). Here, before the
    launcher runs, executions of the earlier attempt that never finished become ABANDONED
    (not left RUNNING forever) and its context is renamed ``<name>.superseded-<id>``, so the
    attempt keeps its lineage and the retry registers a fresh execution under the usual name.
    """
    import ml_metadata as mlmd

    final = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    store = mlmd.MetadataStore(connection)
    name = f"{pipeline_name}.{run_id}.{component_id}"
    context = store.get_context_by_type_and_name("component_run", name)
    if context is None:
        return
    unfinished = [
        e for e in store.get_executions_by_context(context.id) if e.last_known_state not in final
    ]
    for execution in unfinished:
        execution.last_known_state = metadata_store_pb2.Execution.ABANDONED
    if unfinished:
        store.put_executions(unfinished)
    context.name = f"{name}.superseded-{context.id}"
    store.put_contexts([context])
    print(
        f"ML Metadata: earlier attempt of {component_id} moved to {context.name!r} "
        f"({len(unfinished)} unfinished execution(s) marked ABANDONED)"
    )


def with_superseding(
    task: Any, connection: metadata_store_pb2.ConnectionConfig, pipeline_name: str
) -> None:
    """Run :func:`supersede_earlier_attempt` before the task's TFX launcher, in the task."""
    launch = task.python_callable

    def supersede_then_launch(**context: Any) -> Any:
        supersede_earlier_attempt(connection, pipeline_name, context["run_id"], task.task_id)
        return launch(**context)

    task.python_callable = supersede_then_launch


def create_dag() -> DAG:
    """Build the TFX pipeline exactly as beam_runner does and compile it into a DAG."""
    config = settings.pipeline_config()
    connection = metadata_config(config)
    tfx_pipeline = runner.build_pipeline(config, connection)
    dag = AirflowDagRunner(AirflowPipelineConfig(airflow_dag_config=settings.dag_config())).run(
        tfx_pipeline
    )
    dag.doc_md = __doc__
    for task in dag.tasks:  # every task so far is a TFX component
        with_superseding(task, connection, config.pipeline_name)

    component_roots = [task for task in dag.tasks if not task.upstream_task_ids]
    prepare = PythonOperator(
        task_id=settings.PREPARE_TASK_ID, python_callable=settings.prepare_input_span, dag=dag
    )
    prepare >> component_roots  # bad input data: no component runs at all
    for task_id in settings.NO_RETRY_TASKS:
        dag.get_task(task_id).retries = 0
    return dag


dag = create_dag()
if dag.dag_id != configs.AIRFLOW_DAG_ID:  # AirflowDagRunner names the DAG after the pipeline
    raise RuntimeError(f"DAG id {dag.dag_id!r} is not configs.AIRFLOW_DAG_ID")
