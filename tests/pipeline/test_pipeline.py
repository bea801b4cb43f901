"""The pipeline definition: components, wiring and blessing thresholds (no run)."""

from __future__ import annotations

import pytest
import tensorflow_model_analysis as tfma
from google.protobuf import json_format
from tfx.orchestration import metadata

from models import dataset
from pipeline import configs
from pipeline.pipeline import create_pipeline, eval_config


def build(tmp_path, **kwargs):
    return create_pipeline(
        pipeline_name="t",
        pipeline_root=str(tmp_path / "root"),
        examples_root=str(tmp_path / "ex"),
        serving_model_dir=str(tmp_path / "serve"),
        metadata_connection_config=metadata.sqlite_metadata_connection_config(
            str(tmp_path / "m.db")
        ),
        beam_pipeline_args=configs.beam_pipeline_args(),
        preprocessing_fn=configs.PREPROCESSING_FN,
        run_fn=configs.RUN_FN,
        **kwargs,
    )


def upstream(p):
    return {c.id: sorted(u.id for u in c.upstream_nodes) for c in p.components}


def test_component_graph(tmp_path):
    graph = upstream(build(tmp_path))
    assert graph["StatisticsGen"] == ["ImportExampleGen", "ImportSchemaGen"]
    assert graph["ExampleValidator"] == ["ImportSchemaGen", "StatisticsGen"]
    assert graph["AnomaliesGate"] == ["ExampleValidator"]
    assert "AnomaliesGate" in graph["Transform"], "bad data must stop before Transform"
    assert graph["Trainer"] == ["ImportExampleGen", "ImportSchemaGen", "Transform"]
    assert graph["Evaluator"] == ["ImportExampleGen", "Trainer", "latest_blessed_model_resolver"]
    assert graph["latest_blessed_model_resolver"] == ["Trainer"]
    assert graph["InfraValidator"] == ["ImportExampleGen", "Trainer"]
    assert graph["Pusher"] == ["Evaluator", "InfraValidator", "Trainer"]


def test_tuning_feeds_the_trainer(tmp_path):
    p = build(tmp_path, tune_trials=3, tune_epochs=2)
    graph = upstream(p)
    assert graph["Tuner"] == ["ImportExampleGen", "ImportSchemaGen", "Transform"]
    assert "Tuner" in graph["Trainer"]
    tuner = next(c for c in p.components if c.id == "Tuner")
    assert '"max_trials": 3' in tuner.exec_properties["custom_config"]
    assert "Tuner" not in upstream(build(tmp_path))


def test_infra_validation_can_be_left_out(tmp_path):
    graph = upstream(build(tmp_path, infra_validation=False))
    assert "InfraValidator" not in graph
    assert graph["Pusher"] == ["Evaluator", "Trainer"]


def test_first_run_can_infer_the_schema(tmp_path):
    graph = upstream(build(tmp_path, schema_path=None))
    assert graph["SchemaGen"] == ["StatisticsGen"]
    assert "ImportSchemaGen" not in graph


def test_span_selection(tmp_path):
    p = build(tmp_path, span=3)
    example_gen = next(c for c in p.components if c.id == "ImportExampleGen")
    assert '"start_span_number": 3' in example_gen.exec_properties["range_config"]


def evaluator_floor(p) -> float:
    evaluator = next(c for c in p.components if c.id == "Evaluator")
    config = json_format.Parse(evaluator.exec_properties["eval_config"], tfma.EvalConfig())
    (spec,) = config.metrics_specs
    accuracy = next(m for m in spec.metrics if m.class_name == "SparseCategoricalAccuracy")
    return accuracy.per_slice_thresholds[0].threshold.value_threshold.lower_bound.value


def test_the_blessing_floor_follows_the_class_count_unless_asked_for(tmp_path):
    two = dataset.CIFAR10.with_changes(class_names=("cat", "dog"))
    assert evaluator_floor(build(tmp_path)) == pytest.approx(configs.ACCURACY_LOWER_BOUND)
    assert evaluator_floor(build(tmp_path, description=two)) == pytest.approx(0.6111)
    asked = build(tmp_path, description=two, accuracy_lower_bound=0.2)
    assert evaluator_floor(asked) == pytest.approx(0.2)


def test_accuracy_gate_is_on_the_overall_slice_only():
    config = eval_config(0.4, 0.02)
    (spec,) = config.metrics_specs
    accuracy = next(m for m in spec.metrics if m.class_name == "SparseCategoricalAccuracy")
    assert not accuracy.HasField("threshold")
    (per_slice,) = accuracy.per_slice_thresholds
    assert [s.feature_keys for s in per_slice.slicing_specs] == [[]]
    assert per_slice.threshold.value_threshold.lower_bound.value == pytest.approx(0.4)
    assert per_slice.threshold.change_threshold.absolute.value == pytest.approx(-0.02)
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["label"]]
