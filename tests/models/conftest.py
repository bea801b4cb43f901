"""A real tf.Transform AnalyzeAndTransform over a few PNG examples, shared by the model tests.

It produces exactly what the Trainer receives in the pipeline: Transform's graph directory
(Transform does not materialize examples) and ExampleGen's raw examples per split, so
``run_fn`` can be exercised without the pipeline.
"""

from __future__ import annotations

import functools
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

from models import dataset, features, preprocessing
from pipeline import configs

# A dataset unlike CIFAR-10: gray, not square, another size and three named classes. Its raw
# images come in several sizes and formats, as an image folder's do.
GRAY = dataset.DatasetDescription(
    class_names=("cat", "dog", "horse"),
    height=24,
    width=20,
    channels=1,
    counts={"train": {"cat": 14, "dog": 13, "horse": 13}, "eval": {"cat": 3, "dog": 3, "horse": 2}},
    source={"kind": "image_folder", "path": "/data/pets", "layout": "class_folders"},
    fingerprint="sha256:test",
)


def example(encoded: bytes, label: int) -> bytes:
    """A serialized raw tf.Example as ExampleGen stores it: encoded image bytes and a label."""
    feature = {
        features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        features.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def encode(image: np.ndarray, image_format: str) -> bytes:
    """``image`` (uint8 [h, w, c]) encoded as PNG, JPEG, GIF or BMP (PIL: TF encodes no GIF/BMP)."""
    import io

    from PIL import Image

    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    buffer = io.BytesIO()
    pil.save(buffer, image_format)
    return buffer.getvalue()


def raw_examples(
    n: int, seed: int = 0, description: dataset.DatasetDescription = dataset.CIFAR10
) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """``n`` random PNG images at the description's shape, with labels of its classes."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *description.image_shape), dtype=np.uint8)
    labels = rng.integers(0, description.num_classes, size=n)
    return (
        images,
        labels,
        [example(encode(i, "PNG"), int(lab)) for i, lab in zip(images, labels, strict=True)],
    )


def mixed_raw_examples(
    n: int, description: dataset.DatasetDescription, seed: int = 1
) -> list[bytes]:
    """``n`` examples of many sizes, RGB and gray, in PNG/JPEG/GIF/BMP, as a folder holds them."""
    rng = np.random.default_rng(seed)
    formats = ("PNG", "JPEG", "GIF", "BMP")
    serialized = []
    for i in range(n):
        size = (int(rng.integers(8, 64)), int(rng.integers(8, 64)))
        channels = 1 if i % 3 == 0 and formats[i % 4] in ("PNG", "JPEG") else 3
        image = rng.integers(0, 256, size=(*size, channels), dtype=np.uint8)
        label = int(rng.integers(0, description.num_classes))
        serialized.append(example(encode(image, formats[i % 4]), label))
    return serialized


def analyze_and_write(
    work: Path, serialized: list[bytes], description: dataset.DatasetDescription | None
) -> tuple[Path, standard_artifacts.Examples]:
    """Transform's graph for ``description`` (a real AnalyzeDataset) and the raw splits.

    ``None``: no ``custom_config`` at all, as before descriptions existed (CIFAR-10).
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    schema = text_format.Parse(configs.SCHEMA_PATH.read_text(), schema_pb2.Schema())
    raw_tfxio = tfxio.TFExampleBeamRecord(
        physical_format="tfrecord", schema=schema, raw_record_column_name=None
    )
    graph_dir = work / "transform_graph"
    examples_dir = work / "examples"
    fn = preprocessing.preprocessing_fn
    if description is not None:
        custom_config = {dataset.CUSTOM_CONFIG_KEY: description.to_dict()}
        fn = functools.partial(fn, custom_config=custom_config)
    with beam.Pipeline() as p, tft_beam.Context(temp_dir=str(work / "tmp")):
        decoded = p | beam.Create(serialized) | raw_tfxio.BeamSource()
        transform_fn = (decoded, raw_tfxio.TensorAdapterConfig()) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(graph_dir))
    # Raw metadata, as the Transform component writes it next to the graph.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(schema),
        str(graph_dir / tft.TFTransformOutput.RAW_METADATA_DIR),
    )
    # Raw examples per split, as ExampleGen writes them.
    cut = len(serialized) * 5 // 6
    for split, part in (("train", serialized[:cut]), ("eval", serialized[cut:])):
        out = examples_dir / f"Split-{split}"
        out.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(out / "data.tfrecord")) as writer:
            for record in part:
                writer.write(record)
    artifact = standard_artifacts.Examples()
    artifact.uri = str(examples_dir)
    artifact.split_names = '["train", "eval"]'
    return graph_dir, artifact


@pytest.fixture(scope="session")
def transform_output(tmp_path_factory) -> dict:
    """CIFAR-10's Transform (no description given) over 48 PNG images, as the pipeline runs it."""
    work = tmp_path_factory.mktemp("tft")
    images, labels, serialized = raw_examples(48)
    graph_dir, artifact = analyze_and_write(work, serialized, None)
    return {
        "graph_dir": str(graph_dir),
        "examples": artifact,
        "images": images,
        "labels": labels,
        "serialized": serialized,
        "work": Path(work),
        "description": dataset.CIFAR10,
    }


@pytest.fixture(scope="session")
def gray_transform_output(tmp_path_factory) -> dict:
    """Transform for :data:`GRAY` over 48 images of mixed sizes and formats."""
    work = tmp_path_factory.mktemp("tft_gray")
    serialized = mixed_raw_examples(48, GRAY)
    graph_dir, artifact = analyze_and_write(work, serialized, GRAY)
    return {
        "graph_dir": str(graph_dir),
        "examples": artifact,
        "serialized": serialized,
        "work": Path(work),
        "description": GRAY,
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
