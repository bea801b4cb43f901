"""Read this run's input examples (ExampleGen output: gzip TFRecords of tf.Example).

The report samples images for pixel statistics and predicts the test split for the confusion
matrix; both go through here so the record format is decoded in one place.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from models import features


def split_files(examples_uri: str, split: str) -> list[Path]:
    """The TFRecord files of one split of an Examples artifact (``Split-<name>/*``)."""
    return sorted(p for p in Path(examples_uri, f"Split-{split}").glob("*") if p.is_file())


def read_split(
    examples_uri: str, split: str, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N,32,32,3], labels int64 [N])`` of the first ``limit`` examples."""
    import tensorflow as tf

    files = [str(p) for p in split_files(examples_uri, split)]
    if not files:
        raise FileNotFoundError(f"no files for split {split!r} under {examples_uri}")
    images, labels = [], []
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    for record in dataset.take(limit if limit is not None else -1):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        png = feature[features.IMAGE_KEY].bytes_list.value[0]
        images.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.uint8))
        labels.append(int(feature[features.LABEL_KEY].int64_list.value[0]))
    shape = (0, *features.IMAGE_SHAPE)
    return (
        np.stack(images) if images else np.zeros(shape, np.uint8),
        np.asarray(labels, dtype=np.int64),
    )
