"""Predictions a user can open: the BulkInferrer's result as a CSV, one row per image.

TFX's ``BulkInferrer`` writes ``PredictionLog`` records (gzip'd TFRecords of protos): right for
machines, closed to a person with a spreadsheet. This component reads them and writes
``predictions.csv`` (path, class name, probability, model version) beside that result, plus
``unreadable.csv`` listing the inference folder's files that could not be scored (from its
``manifest.json``), so a bad photo is reported rather than fatal. Class names come from the
description exported with the model, the model version from the Pusher (the TF Serving
version number when the model was pushed).

When the model was not blessed the BulkInferrer scores nothing; the CSV then holds only its
header and the artifact says why (``status``).
"""

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.artifact import Artifact, Property, PropertyType
from tfx.types.standard_artifacts import InferenceResult, Model, PushedModel
from tfx.utils import path_utils

from models import dataset, features

PREDICTIONS_FILE = "predictions.csv"
UNREADABLE_FILE = "unreadable.csv"
HEADER = ("path", "class_name", "probability", "model_version")
MANIFEST_FILE = "manifest.json"  # written by ingest.inference beside the examples


class Predictions(Artifact):
    """A folder with ``predictions.csv`` and ``unreadable.csv``."""

    TYPE_NAME = "Predictions"
    PROPERTIES = {
        "count": Property(type=PropertyType.INT),
        "unreadable": Property(type=PropertyType.INT),
        "status": Property(type=PropertyType.STRING),
    }


def prediction_logs(inference_uri: str) -> Iterator[prediction_log_pb2.PredictionLog]:
    """Every PredictionLog in a BulkInferrer's ``inference_result`` folder."""
    files = sorted(tf.io.gfile.glob(os.path.join(inference_uri, "prediction_logs-*")))
    if not files:
        return
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog()
        log.ParseFromString(record)
        yield log


def prediction_row(
    log: prediction_log_pb2.PredictionLog, class_names: tuple[str, ...], version: str
) -> tuple[str, str, str, str]:
    """(path, class name, probability, model version) of one scored image."""
    request = log.predict_log.request
    serialized = next(iter(request.inputs.values())).string_val[0]
    example = tf.train.Example.FromString(serialized)
    path = example.features.feature[features.IMAGE_PATH_KEY].bytes_list.value[0].decode("utf-8")
    outputs = log.predict_log.response.outputs
    probabilities = tf.make_ndarray(outputs[features.OUTPUT_PROBABILITIES]).reshape(-1)
    class_id = int(np.argmax(probabilities))
    return path, class_names[class_id], f"{float(probabilities[class_id]):.6f}", version


def unreadable_files(inference_examples_dir: str) -> list[dict[str, str]]:
    """The inference folder's bad images, as ingest listed them (empty when none/unknown)."""
    try:
        manifest = json.loads((Path(inference_examples_dir) / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return []
    return list(manifest.get("bad_images", []))


def model_version(pushed_model: Artifact, model: Artifact) -> str:
    """The TF Serving version the model was pushed as, else the model artifact's id."""
    if pushed_model.get_int_custom_property("pushed") == 1:
        return pushed_model.get_string_custom_property("pushed_version")
    return f"not-pushed-model-{model.id}"


def write_predictions(
    inference_uri: str,
    model_dir: str,
    version: str,
    inference_examples_dir: str,
    output_dir: str,
) -> tuple[int, int]:
    """Write both CSV files into ``output_dir``; returns (scored images, unreadable files)."""
    class_names = dataset.from_model(model_dir).class_names
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    count = 0
    with (out / PREDICTIONS_FILE).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for log in prediction_logs(inference_uri):
            writer.writerow(prediction_row(log, class_names, version))
            count += 1
    bad = unreadable_files(inference_examples_dir)
    with (out / UNREADABLE_FILE).open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("path", "reason"))
        for entry in bad:
            writer.writerow((entry.get("path", ""), entry.get("reason", "")))
    return count, len(bad)


@component
def PredictionsWriter(
    inference_result: InputArtifact[InferenceResult],
    model: InputArtifact[Model],
    pushed_model: InputArtifact[PushedModel],
    predictions: OutputArtifact[Predictions],
    inference_examples_dir: Parameter[str] = "",
) -> None:
    """``predictions.csv`` and ``unreadable.csv`` from the BulkInferrer's result."""
    model_dir = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))
    count, bad = write_predictions(
        inference_result.uri,
        model_dir,
        model_version(pushed_model, model),
        inference_examples_dir,
        predictions.uri,
    )
    predictions.count = count
    predictions.unreadable = bad
    predictions.status = "scored" if count else "not scored (model not blessed)"
