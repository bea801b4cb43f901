"""A real tf.Transform AnalyzeAndTransform over a few PNG examples, shared by the model tests.

It produces exactly what the Trainer receives in the pipeline: Transform's graph directory
(Transform does not materialize examples) and ExampleGen's raw examples per split, so
``run_fn`` can be exercised without the pipeline.
"""

from __future__ import annotations

import os
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx.types import standard_artifacts
from tfx_bsl.public import tfxio

from ingest.spans import to_example
from models import features, preprocessing
from pipeline import configs


def raw_examples(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *features.IMAGE_SHAPE), dtype=np.uint8)
    labels = rng.integers(0, features.NUM_CLASSES, size=n)
    return (
        images,
        labels,
        [
            to_example(i, int(lab)).SerializeToString()
            for i, lab in zip(images, labels, strict=True)
        ],
    )


@pytest.fixture(scope="session")
def transform_output(tmp_path_factory) -> dict:
    """Run AnalyzeDataset on 48 images; write the graph and the raw train/eval examples."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    work = tmp_path_factory.mktemp("tft")
    schema = text_format.Parse(configs.SCHEMA_PATH.read_text(), schema_pb2.Schema())
    images, labels, serialized = raw_examples(48)
    raw_tfxio = tfxio.TFExampleBeamRecord(
        physical_format="tfrecord", schema=schema, raw_record_column_name=None
    )
    graph_dir = work / "transform_graph"
    examples_dir = work / "examples"
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(work / "tmp")):
        decoded = p | beam.Create(serialized) | raw_tfxio.BeamSource()
        transform_fn = (decoded, raw_tfxio.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(
            preprocessing.preprocessing_fn
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(graph_dir))
    # Raw metadata, as the Transform component writes it next to the graph.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        str(graph_dir / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    # Raw examples per split, as ExampleGen writes them.
    for split, part in (("train", serialized[:40]), ("eval", serialized[40:])):
        out = examples_dir / f"Split-{split}"
        out.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(out / "data.tfrecord")) as writer:
            for record in part:
                writer.write(record)
    artifact = standard_artifacts.Examples()
    artifact.uri = str(examples_dir)
    artifact.split_names = '["train", "eval"]'
    return {
        "graph_dir": str(graph_dir),
        "examples": artifact,
        "images": images,
        "labels": labels,
        "serialized": serialized,
        "work": Path(work),
    }


def split_files(artifact, split: str) -> list[str]:
    return [os.path.join(artifact.uri, f"Split-{split}", "*")]


def trainer_fn_args(
    transform_output: dict, work: Path, custom_config: dict, hyperparameters: dict | None = None
):
    """FnArgs as the Trainer executor builds them for ``run_fn`` on the fixture's data."""
    from tfx.components.trainer import fn_args_utils
    from tfx.components.util import tfxio_utils

    examples = transform_output["examples"]
    accessor = fn_args_utils.DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=tfxio_utils.get_record_batch_factory_from_artifact([examples], []),
        data_view_decode_fn=None,
    )
    return fn_args_utils.FnArgs(
        train_files=split_files(examples, "train"),
        eval_files=split_files(examples, "eval"),
        transform_output=transform_output["graph_dir"],
        serving_model_dir=str(work / "serving_model"),
        model_run_dir=str(work / "run"),
        data_accessor=accessor,
        custom_config=custom_config,
        train_steps=None,
        hyperparameters=hyperparameters,
    )


def exported_widths(serving_dir: Path) -> dict[str, int]:
    """Filter counts and dense width read from an exported SavedModel's kernels.

    Read from the saved variables, not from our build code, so it shows what was trained.
    Keras saves each layer with weights as ``layer_with_weights-<i>`` in model order.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(serving_dir))
    kernels = [getattr(loaded, f"layer_with_weights-{i}").kernel.shape for i in range(5)]
    assert [len(k) for k in kernels] == [4, 4, 4, 2, 2], kernels
    return {
        "conv1_filters": kernels[0][-1],
        "conv2_filters": kernels[1][-1],
        "conv3_filters": kernels[2][-1],
        "dense_units": kernels[3][-1],
        "classes": kernels[4][-1],
    }
