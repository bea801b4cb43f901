"""Reading the Evaluator's output back: values as TFMA wrote them, 0.0 included."""

from __future__ import annotations

import pytest
import tensorflow as tf
from tensorflow_model_analysis.proto import metrics_for_slice_pb2

from pipeline import configs, summary


def write_metrics(directory, values: dict[str, float]) -> str:
    """A TFMA metrics file with one overall-slice accuracy per model name."""
    record = metrics_for_slice_pb2.MetricsForSlice()
    record.slice_key.SetInParent()
    for model, value in values.items():
        kv = record.metric_keys_and_values.add()
        kv.key.name = configs.ACCURACY_METRIC
        kv.key.model_name = model
        kv.value.double_value.value = value
    directory.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(directory / "metrics-00000-of-00001.tfrecord")) as writer:
        writer.write(record.SerializeToString())
    return str(directory)


def test_candidate_accuracy_of_zero_is_zero_not_unknown(tmp_path):
    uri = write_metrics(tmp_path / "eval", {"candidate": 0.0, "baseline": 0.52})
    assert summary.candidate_accuracy(uri) == 0.0
    assert summary.overall_accuracy(uri, "baseline") == pytest.approx(0.52)


def test_unnamed_model_when_there_is_no_baseline(tmp_path):
    uri = write_metrics(tmp_path / "eval", {"": 0.31})
    assert summary.candidate_accuracy(uri) == pytest.approx(0.31)


def test_no_accuracy_is_none(tmp_path):
    uri = write_metrics(tmp_path / "eval", {})
    assert summary.candidate_accuracy(uri) is None


def test_the_table_counts_the_inference_folders_predictions():
    from pipeline.summary import RunSummary, format_table

    scored = RunSummary(predicted=5, unreadable=1, predictions_file="/p/predictions.csv")
    assert (
        "predictions: 5 image(s) -> /p/predictions.csv; 1 unreadable file(s) listed in "
        "unreadable.csv" in format_table(scored)
    )
    unblessed = RunSummary(predicted=0, unreadable=0, predictions_file="/p/predictions.csv")
    assert "predictions: none (the model was not blessed)" in format_table(unblessed)
    assert "predictions" not in format_table(RunSummary())  # no --infer-dir
