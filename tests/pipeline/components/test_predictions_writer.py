"""PredictionsWriter: the BulkInferrer's PredictionLogs as a CSV a person can open."""

from __future__ import annotations

import csv
import json

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from ingest.tfrecords import inference_example
from models import dataset, features
from pipeline.components import predictions_writer

PETS = dataset.CIFAR10.with_changes(class_names=("cat", "dög", "horse"), height=40, width=48)


def prediction_log(path: str, probabilities: list[float]) -> bytes:
    """One PredictionLog as tfx_bsl's RunInference writes it for a tf.Example signature."""
    log = prediction_log_pb2.PredictionLog()
    request_input = log.predict_log.request.inputs[features.INPUT_EXAMPLES]
    request_input.CopyFrom(
        tf.make_tensor_proto([inference_example(b"png", path).SerializeToString()])
    )
    outputs = log.predict_log.response.outputs
    outputs[features.OUTPUT_PROBABILITIES].CopyFrom(
        tf.make_tensor_proto(np.array([probabilities], np.float32))
    )
    outputs[features.OUTPUT_CLASS_IDS].CopyFrom(
        tf.make_tensor_proto(np.array([int(np.argmax(probabilities))]))
    )
    return log.SerializeToString()


def read_csv(path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_one_row_per_image_with_the_models_class_names(tmp_path):
    inference = tmp_path / "inference_result"
    inference.mkdir()
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(inference / "prediction_logs-00000-of-00001.gz"), options) as w:
        w.write(prediction_log("a/photo 1.jpg", [0.1, 0.7, 0.2]))
        w.write(prediction_log("ünï.png", [0.5, 0.2, 0.3]))
    model_dir = tmp_path / "model"
    dataset.exported_description_path(model_dir).parent.mkdir(parents=True)
    PETS.save(dataset.exported_description_path(model_dir).parent)
    examples_dir = tmp_path / "infer"
    examples_dir.mkdir()
    bad = [{"path": "broken.jpg", "reason": "corrupt or truncated image"}]
    (examples_dir / "manifest.json").write_text(json.dumps({"count": 2, "bad_images": bad}))

    count, unreadable = predictions_writer.write_predictions(
        str(inference), str(model_dir), "1700000000", str(examples_dir), str(tmp_path / "out")
    )
    assert (count, unreadable) == (2, 1)
    assert read_csv(tmp_path / "out" / predictions_writer.PREDICTIONS_FILE) == [
        list(predictions_writer.HEADER),
        ["a/photo 1.jpg", "dög", "0.700000", "1700000000"],
        ["ünï.png", "cat", "0.500000", "1700000000"],
    ]
    assert read_csv(tmp_path / "out" / predictions_writer.UNREADABLE_FILE) == [
        ["path", "reason"],
        ["broken.jpg", "corrupt or truncated image"],
    ]


def test_an_unblessed_model_gives_a_header_only_csv(tmp_path):
    """The BulkInferrer writes no logs for an unblessed model; the writer does not fail."""
    (tmp_path / "inference_result").mkdir()
    model_dir = tmp_path / "model"
    model_dir.mkdir()  # a model from before descriptions: CIFAR-10's names
    count, unreadable = predictions_writer.write_predictions(
        str(tmp_path / "inference_result"),
        str(model_dir),
        "1",
        str(tmp_path / "absent"),
        str(tmp_path / "out"),
    )
    assert (count, unreadable) == (0, 0)
    assert read_csv(tmp_path / "out" / predictions_writer.PREDICTIONS_FILE) == [
        list(predictions_writer.HEADER)
    ]
