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

from typing import Any

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

# the DAG folder is on sys.path
import cifar10_airflow_settings as settings  # noqa: E402
from airflow.models.dag import DAG  # noqa: E402
from airflow.operators.python import PythonOperator  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402
from tfx.orchestration.airflow.airflow_dag_runner import (  # noqa: E402
    AirflowDagRunner,
    AirflowPipelineConfig,
)

from pipeline import runner  # noqa: E402


def supersede_earlier_attempt(
    connection: metadata_store_pb2.ConnectionConfig,
    pipeline_name: str,
    run_id: str,
    component_id: str,
) -> bool:
    """Make a task's retry possible: move an earlier attempt's ML Metadata record aside.

    TFX's Airflow launcher keys a component's execution by a ``component_run`` context named
    ``<pipeline>.<run_id>.<component>`` and names its outputs ``<key>:<run_id>``. A retry finds
    that context and re-puts the same input events into the old execution, which ML Metadata
    rejects ("Given event already exists"); past that, the outputs' names collide, and
    downstream components look up their inputs from the first execution whose
    ``component_id`` matches. So without this every retry of a component fails at once (found
    with a SIGKILLed Trainer, tests/airflow_dags/test_production_airflow.py).

    Before the launcher runs, the earlier attempt is renamed with a ``superseded-<id>``
    suffix: its context and its executions' ``component_id``.
    Executions that never finished become FAILED (not RUNNING forever) and their unpublished
    outputs ABANDONED. The attempt keeps its lineage in the run's context; the retry registers
    a fresh execution under the usual context name. ML Metadata ignores a new name for an
    existing artifact, so it is the retry's new outputs that get a distinct name (see
    :func:`name_new_outputs`). Returns whether there was an earlier attempt.
    """
    import ml_metadata as mlmd

    pb = metadata_store_pb2
    store = mlmd.MetadataStore(connection)
    name = f"{pipeline_name}.{run_id}.{component_id}"
    context = store.get_context_by_type_and_name("component_run", name)
    if context is None:
        return False
    suffix = f"superseded-{context.id}"
    executions = store.get_executions_by_context(context.id)
    for execution in executions:
        if execution.last_known_state not in (pb.Execution.COMPLETE, pb.Execution.CACHED):
            execution.last_known_state = pb.Execution.FAILED
        execution.properties["component_id"].string_value = f"{component_id}.{suffix}"
    output_ids = [
        event.artifact_id
        for event in store.get_events_by_execution_ids([e.id for e in executions])
        if event.type == pb.Event.OUTPUT
    ]
    outputs = store.get_artifacts_by_id(output_ids) if output_ids else []
    for artifact in outputs:
        if artifact.state != pb.Artifact.LIVE:
            artifact.state = pb.Artifact.ABANDONED
    if executions:
        store.put_executions(executions)
    if outputs:
        store.put_artifacts(outputs)
    context.name = f"{name}.{suffix}"
    store.put_contexts([context])
    print(
        f"ML Metadata: earlier attempt of {component_id} moved aside as {context.name!r} "
        f"({len(executions)} execution(s), {len(outputs)} output(s))"
    )
    return True


def name_new_outputs(suffix: str) -> None:
    """In this task's process: suffix the names of outputs TFX registers from now on.

    TFX names outputs ``<key>:<run_id>`` and ML Metadata keeps artifact names unique and
    immutable, so a retry's outputs would collide with the dead attempt's. Downstream
    components find their inputs by execution and output key, never by this name. Patched
    at ``Metadata.update_execution``, where every driver (ExampleGen's has its own output
    preparation) registers new outputs; already registered ones (with an id) are untouched.
    """
    from tfx.orchestration import metadata

    original = metadata.Metadata.update_execution

    def update_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        for artifacts in (kwargs.get("output_artifacts") or {}).values():
            for artifact in artifacts:
                if not artifact.id and artifact.name:
                    artifact.name = f"{artifact.name}.{suffix}"
        return original(self, *args, **kwargs)

    metadata.Metadata.update_execution = update_execution


def with_superseding(
    task: Any, connection: metadata_store_pb2.ConnectionConfig, pipeline_name: str
) -> None:
    """Run :func:`supersede_earlier_attempt` before the task's TFX launcher, in the task."""
    launch = task.python_callable

    def supersede_then_launch(**context: Any) -> Any:
        if supersede_earlier_attempt(connection, pipeline_name, context["run_id"], task.task_id):
            name_new_outputs(f"attempt-{context['ti'].try_number}")
        return launch(**context)

    task.python_callable = supersede_then_launch


def create_dag() -> DAG:
    """Build the TFX pipeline exactly as beam_runner does and compile it into a DAG."""
    config = settings.pipeline_config()
    connection = runner.metadata_connection_config(config)  # builds, writes nothing
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
if dag.dag_id != settings.AIRFLOW_DAG_ID:  # AirflowDagRunner names the DAG after the pipeline
    raise RuntimeError(f"DAG id {dag.dag_id!r} is not settings.AIRFLOW_DAG_ID")
