"""Read what a pipeline run produced back out of ML Metadata, for the end-of-run summary.

Used by the runners, the benchmark and the tests, so "was it blessed, where did it go, how
accurate was it" has one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


_STATE_NAMES = {0: "UNKNOWN", 1: "NEW", 2: "RUNNING", 3: "COMPLETE", 4: "FAILED", 5: "CACHED",
                6: "CANCELED"}


def _latest_run_context(store):
    # "pipeline_run": IR-based runners (Beam, Local); "run": AirflowDagRunner's launcher.
    runs = store.get_contexts_by_type("pipeline_run") + store.get_contexts_by_type("run")
    return max(runs, key=lambda c: c.create_time_since_epoch) if runs else None


def overall_accuracy(evaluation_uri: str, model_name: str = "") -> float | None:
    """SparseCategoricalAccuracy on the overall slice of one model of an Evaluator output."""
    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys:
            continue
        for kv in metrics.metric_keys_and_values:
            key = kv.key
            if (key.name == configs.ACCURACY_METRIC and key.model_name == model_name
                    and not key.is_diff):
                return kv.value.double_value.value
    return None


def read_run(metadata_db: Path) -> RunSummary:
    """Summary of the latest pipeline run recorded in ``metadata_db``."""
    summary = RunSummary()
    config = metadata.sqlite_metadata_connection_config(str(metadata_db))
    with metadata.Metadata(config) as m:
        store = m.store
        run = _latest_run_context(store)
        if run is None:
            return summary
        node_names = {c.id: c.name.split(".", 1)[-1] for c in store.get_contexts_by_type("node")}
        executions = sorted(store.get_executions_by_context(run.id),
                            key=lambda e: e.create_time_since_epoch)
        for execution in executions:
            fallback = (execution.properties["component_id"].string_value
                        if "component_id" in execution.properties else str(execution.type))
            node = next((node_names[c.id] for c in store.get_contexts_by_execution(execution.id)
                         if c.id in node_names), fallback)
            summary.components[node] = _STATE_NAMES.get(execution.last_known_state, "?")
            summary.durations[node] = (execution.last_update_time_since_epoch
                                       - execution.create_time_since_epoch) / 1000.0
            events = [e for e in store.get_events_by_execution_ids([execution.id])
                      if e.type == e.OUTPUT]
            outputs = store.get_artifacts_by_id([e.artifact_id for e in events])
            summary.artifacts[node] = [a.uri for a in outputs]
            for artifact in outputs:
                props = artifact.custom_properties
                if "blessed" in props:
                    summary.blessed = bool(props["blessed"].int_value)
                if "pushed" in props:
                    summary.pushed = bool(props["pushed"].int_value)
                if "pushed_destination" in props:
                    summary.pushed_destination = props["pushed_destination"].string_value
                if Path(artifact.uri, "eval_config.json").exists():
                    _read_evaluation(artifact.uri, summary)
    return summary


def _read_evaluation(uri: str, summary: RunSummary) -> None:
    summary.accuracy = overall_accuracy(uri, "candidate") or overall_accuracy(uri, "")
    summary.baseline_accuracy = overall_accuracy(uri, "baseline")
    result = tfma.load_validation_result(uri)
    for per_slice in result.metric_validations_per_slice:
        where = str(tfma.slicer.deserialize_slice_key(per_slice.slice_key)) or "overall"
        for f in per_slice.failures:
            model = f.metric_key.model_name or "model"
            diff = " change vs baseline" if f.metric_key.is_diff else ""
            summary.failed_checks.append(
                f"{where}: {model} {f.metric_key.name}{diff} = "
                f"{f.metric_value.double_value.value:.4f} fails "
                f"{' '.join(str(f.metric_threshold).split())}")


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
        f"pushed:  {summary.pushed}" + (f" -> {summary.pushed_destination}"
                                         if summary.pushed else ""),
    ]
    rows += [f"failed check: {c}" for c in summary.failed_checks]
    return "\n".join(rows)
