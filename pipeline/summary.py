"""Read what a pipeline run produced back out of ML Metadata, for the end-of-run summary.

Used by the runners, the benchmark and the tests, so "was it blessed, where did it go, how
accurate was it" has one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow_model_analysis as tfma
from tfx.orchestration import metadata

from pipeline import configs


@dataclass
class RunSummary:
    components: dict[str, str] = field(default_factory=dict)  # node id -> final state
    durations: dict[str, float] = field(default_factory=dict)  # node id -> seconds (MLMD)
    artifacts: dict[str, list[str]] = field(default_factory=dict)  # node id -> output uris
    accuracy: float | None = None
    baseline_accuracy: float | None = None
    blessed: bool | None = None
    pushed: bool | None = None
    pushed_destination: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    infra_blessed: bool | None = None  # InfraValidator: loaded and answered in a model server
    infra_reason: str | None = None  # why not, in one line
    # --infer-dir: the PredictionsWriter's CSV, how many images it scored and left out.
    predictions_file: str | None = None
    predicted: int | None = None
    unreadable: int | None = None
    # The run report's view of the same run (additive; the table above ignores them).
    run_id: str | None = None
    run_started: float | None = None  # seconds since the epoch (the run context's creation)
    executions: list[ExecutionRecord] = field(default_factory=list)
    artifact_records: dict[int, ArtifactRecord] = field(default_factory=dict)  # by MLMD id

    def output(self, node: str, key: str) -> ArtifactRecord | None:
        """The first artifact ``node`` published under output ``key`` in this run, if any."""
        for execution in self.executions:
            if execution.node == node and execution.outputs.get(key):
                return self.artifact_records.get(execution.outputs[key][0])
        return None


@dataclass
class ArtifactRecord:
    """One MLMD artifact as the report needs it: where it is and what it says about itself."""

    id: int
    type: str
    uri: str
    properties: dict[str, Any] = field(default_factory=dict)  # properties + custom properties
    created: float = 0.0  # seconds since the epoch


@dataclass
class ExecutionRecord:
    """One component execution of the run, with its MLMD input/output artifact ids by key."""

    id: int
    node: str
    type: str
    state: str
    started: float  # seconds since the epoch
    seconds: float
    inputs: dict[str, list[int]] = field(default_factory=dict)
    outputs: dict[str, list[int]] = field(default_factory=dict)
    properties: dict[str, Any] = field(default_factory=dict)  # e.g. the Trainer's custom_config


@dataclass(frozen=True)
class RunRef:
    """A pipeline run as ML Metadata names it (the run context's name is the run id)."""

    run_id: str
    context_type: str
    started: float  # seconds since the epoch


PREDICTIONS_WRITER = "PredictionsWriter"  # node id of the --infer-dir CSV writer
INFRA_VALIDATOR = "InfraValidator"  # node id (pipeline/components/infra_validation/specs.py)
_STATE_NAMES = {
    0: "UNKNOWN",
    1: "NEW",
    2: "RUNNING",
    3: "COMPLETE",
    4: "FAILED",
    5: "CACHED",
    6: "CANCELED",
}


_RUN_CONTEXT_TYPES = ("pipeline_run", "run")
# Event types that feed an execution (INPUT, INTERNAL_INPUT, DECLARED_INPUT) vs. come out of
# it (OUTPUT, DECLARED_OUTPUT, INTERNAL_OUTPUT: a Resolver's resolved artifacts).
_INPUT_EVENTS = {2, 3, 5}
_OUTPUT_EVENTS = {1, 4, 6}


def _run_contexts(store, pipeline_name: str | None = None) -> list:
    """Run contexts, oldest first; only ``pipeline_name``'s when several pipelines share the
    store (runs whose executions belong to that pipeline's context)."""
    # "pipeline_run": IR-based runners (Beam, Local); "run": AirflowDagRunner's launcher.
    runs = [c for t in _RUN_CONTEXT_TYPES for c in store.get_contexts_by_type(t)]
    if pipeline_name is not None:
        pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
        if pipeline is None:
            return []
        mine = {e.id for e in store.get_executions_by_context(pipeline.id)}
        runs = [c for c in runs if any(e.id in mine for e in store.get_executions_by_context(c.id))]
    return sorted(runs, key=lambda c: (c.create_time_since_epoch, c.id))


def _latest_run_context(store, pipeline_name: str | None = None):
    runs = _run_contexts(store, pipeline_name)
    return runs[-1] if runs else None


def list_runs(connection_config, pipeline_name: str | None = None) -> list[RunRef]:
    """Every run ML Metadata knows (of ``pipeline_name``, if given), oldest first."""
    with metadata.Metadata(connection_config) as m:
        return [
            RunRef(c.name, c.type, c.create_time_since_epoch / 1000.0)
            for c in _run_contexts(m.store, pipeline_name)
        ]


def overall_accuracy(evaluation_uri: str, model_name: str = "") -> float | None:
    """SparseCategoricalAccuracy on the overall slice of one model of an Evaluator output."""
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for kv in metrics.metric_keys_and_values:
            key = kv.key
            if (
                key.name == configs.ACCURACY_METRIC
                and key.model_name == model_name
                and not key.is_diff
            ):
                return kv.value.double_value.value
    return None


def read_run(metadata_db: Path) -> RunSummary:
    """Summary of the latest pipeline run recorded in ``metadata_db``."""
    return read_run_from(metadata.sqlite_metadata_connection_config(str(metadata_db)))


def read_run_from(
    connection_config, run_id: str | None = None, pipeline_name: str | None = None
) -> RunSummary:
    """Summary of run ``run_id`` (the latest if None) in any ML Metadata store (SQLite, MySQL).

    Raises ``KeyError`` for an unknown ``run_id``; an empty store gives an empty summary.
    """
    summary = RunSummary()
    with metadata.Metadata(connection_config) as m:
        store = m.store
        if run_id is None:
            run = _latest_run_context(store, pipeline_name)
        else:
            run = next((c for c in _run_contexts(store, pipeline_name) if c.name == run_id), None)
            if run is None:
                raise KeyError(f"no pipeline run {run_id!r} in ML Metadata")
        if run is None:
            return summary
        summary.run_id = run.name
        summary.run_started = run.create_time_since_epoch / 1000.0
        node_names = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
        executions = sorted(
            store.get_executions_by_context(run.id), key=lambda e: e.create_time_since_epoch
        )
        for execution in executions:
            fallback = (
                execution.properties["component_id"].string_value
                if "component_id" in execution.properties
                else str(execution.type)
            )
            node = next(
                (
                    node_names[c.id]
                    for c in store.get_contexts_by_execution(execution.id)
                    if c.id in node_names
                ),
                fallback,
            )
            summary.components[node] = _STATE_NAMES.get(execution.last_known_state, "?")
            summary.durations[node] = (
                execution.last_update_time_since_epoch - execution.create_time_since_epoch
            ) / 1000.0
            all_events = store.get_events_by_execution_ids([execution.id])
            events = [e for e in all_events if e.type == e.OUTPUT]
            outputs = store.get_artifacts_by_id([e.artifact_id for e in events])
            summary.artifacts[node] = [a.uri for a in outputs]
            _record_execution(store, summary, execution, node, all_events)
            for artifact in outputs:
                props = artifact.custom_properties
                if "blessed" in props and node == INFRA_VALIDATOR:
                    summary.infra_blessed = bool(props["blessed"].int_value)
                    if "not_blessed_reason" in props:
                        summary.infra_reason = props["not_blessed_reason"].string_value
                elif "blessed" in props:
                    summary.blessed = bool(props["blessed"].int_value)
                if "pushed" in props:
                    summary.pushed = bool(props["pushed"].int_value)
                if "pushed_destination" in props:
                    summary.pushed_destination = props["pushed_destination"].string_value
                if node == PREDICTIONS_WRITER and "count" in artifact.properties:
                    _read_predictions(artifact, summary)
                if Path(artifact.uri, "eval_config.json").exists():
                    _read_evaluation(artifact.uri, summary)
    return summary


def _record_execution(store, summary: RunSummary, execution, node: str, events) -> None:
    """Keep the execution and every artifact it read or wrote (for lineage and the report)."""
    record = ExecutionRecord(
        id=execution.id,
        node=node,
        type=str(execution.type),
        state=_STATE_NAMES.get(execution.last_known_state, "?"),
        started=execution.create_time_since_epoch / 1000.0,
        seconds=(execution.last_update_time_since_epoch - execution.create_time_since_epoch)
        / 1000.0,
        properties={k: _value(v) for k, v in execution.custom_properties.items()},
    )
    for event in events:
        key = event.path.steps[0].key if event.path.steps else ""
        side = (
            record.inputs
            if event.type in _INPUT_EVENTS
            else record.outputs
            if event.type in _OUTPUT_EVENTS
            else None
        )
        if side is not None:
            side.setdefault(key, []).append(event.artifact_id)
    missing = [e.artifact_id for e in events if e.artifact_id not in summary.artifact_records]
    for artifact in store.get_artifacts_by_id(missing) if missing else []:
        props = {k: _value(v) for k, v in artifact.properties.items()}
        props.update({k: _value(v) for k, v in artifact.custom_properties.items()})
        summary.artifact_records[artifact.id] = ArtifactRecord(
            id=artifact.id,
            type=str(artifact.type),
            uri=artifact.uri,
            properties=props,
            created=artifact.create_time_since_epoch / 1000.0,
        )
    summary.executions.append(record)


def _value(value) -> Any:
    """An MLMD property value as a plain Python value."""
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format

        return json_format.MessageToDict(value.struct_value)
    return getattr(value, kind) if kind else None


def candidate_accuracy(evaluation_uri: str) -> float | None:
    """The candidate's accuracy: named "candidate" beside a baseline, unnamed alone.

    ``is None``, not ``or``: an accuracy of 0.0 is a result (a broken model), not a miss.
    """
    named = overall_accuracy(evaluation_uri, "candidate")
    return named if named is not None else overall_accuracy(evaluation_uri, "")


def _read_evaluation(uri: str, summary: RunSummary) -> None:
    summary.accuracy = candidate_accuracy(uri)
    summary.baseline_accuracy = overall_accuracy(uri, "baseline")
    result = tfma.load_validation_result(uri)
    for per_slice in result.metric_validations_per_slice:
        slice_key = tfma.slicer.deserialize_slice_key(per_slice.slice_key)
        where = str(slice_key) if slice_key else "overall"  # the empty key reads "()"
        for f in per_slice.failures:
            model = f.metric_key.model_name or "model"
            diff = " change vs baseline" if f.metric_key.is_diff else ""
            summary.failed_checks.append(
                f"{where}: {model} {f.metric_key.name}{diff} = "
                f"{f.metric_value.double_value.value:.4f} fails "
                f"{' '.join(str(f.metric_threshold).split())}"
            )


def _read_predictions(artifact, summary: RunSummary) -> None:
    summary.predictions_file = str(Path(artifact.uri) / "predictions.csv")
    summary.predicted = artifact.properties["count"].int_value
    summary.unreadable = artifact.properties["unreadable"].int_value


def format_predictions(summary: RunSummary) -> list[str]:
    """The --infer-dir line of the summary (none when the run had no inference folder)."""
    if summary.predicted is None:
        return []
    unreadable = f"; {summary.unreadable} unreadable file(s) listed in unreadable.csv"
    if not summary.predicted:
        return [f"predictions: none (the model was not blessed){unreadable}"]
    return [f"predictions: {summary.predicted} image(s) -> {summary.predictions_file}{unreadable}"]


def format_table(summary: RunSummary, wall_seconds: dict[str, float] | None = None) -> str:
    """A plain-text table: one row per component, then the verdict."""
    times = {**summary.durations, **(wall_seconds or {})}
    rows = [f"{'component':<34} {'state':<9} {'seconds':>8}"]
    for node, state in summary.components.items():
        rows.append(f"{node:<34} {state:<9} {times.get(node, 0.0):>8.1f}")
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    rows += [
        "",
        f"test accuracy (candidate): {fmt(summary.accuracy)}",
        f"test accuracy (baseline):  {fmt(summary.baseline_accuracy)}",
        f"blessed: {summary.blessed}",
        *(
            [
                f"infra-validated: {summary.infra_blessed}"
                + (f" ({summary.infra_reason})" if summary.infra_reason else "")
            ]
            if summary.infra_blessed is not None
            else []
        ),
        f"pushed:  {summary.pushed}"
        + (f" -> {summary.pushed_destination}" if summary.pushed else ""),
    ]
    rows += format_predictions(summary)
    rows += [f"failed check: {c}" for c in summary.failed_checks]
    return "\n".join(rows)
