"""Read this run's input examples (ExampleGen output: gzip TFRecords of tf.Example).

The report samples images for pixel statistics, counts distinct images and predicts the test
split for the confusion matrix; all go through here so the record format is decoded in one
place. Images are decoded by the models' own graph function, so they have the dataset's
shape (gray or colour, any size) exactly as the model saw them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from models import features
from models.dataset import DatasetDescription

DECODE_BATCH = 256


def split_files(examples_uri: str, split: str) -> list[Path]:
    """The TFRecord files of one split of an Examples artifact (``Split-<name>/*``)."""
    return sorted(p for p in Path(examples_uri, f"Split-{split}").glob("*") if p.is_file())


def iter_records(
    examples_uri: str, split: str, limit: int | None = None
) -> Iterator[tuple[bytes, int]]:
    """``(encoded image, label)`` of the first ``limit`` examples of ``split``, streamed."""
    import tensorflow as tf

    files = [str(p) for p in split_files(examples_uri, split)]
    if not files:
        raise FileNotFoundError(f"no files for split {split!r} under {examples_uri}")
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP")
    for record in dataset.take(limit if limit is not None else -1):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        yield (
            feature[features.IMAGE_KEY].bytes_list.value[0],
            int(feature[features.LABEL_KEY].int64_list.value[0]),
        )


def read_encoded(
    examples_uri: str, split: str, limit: int | None = None
) -> tuple[list[bytes], np.ndarray]:
    """``(encoded images, labels int64 [N])`` of the first ``limit`` examples."""
    encoded, labels = [], []
    for image, label in iter_records(examples_uri, split, limit):
        encoded.append(image)
        labels.append(label)
    return encoded, np.asarray(labels, dtype=np.int64)


def decode(encoded: list[bytes], description: DatasetDescription) -> np.ndarray:
    """Encoded images -> uint8 [N, H, W, C] at the description's shape, decoded, converted and
    resized by the same graph function training uses (``models.preprocessing``)."""
    import tensorflow as tf

    from models.preprocessing import decode_images

    batches = [
        tf.cast(
            tf.round(decode_images(tf.constant(encoded[i : i + DECODE_BATCH]), description) * 255),
            tf.uint8,
        ).numpy()
        for i in range(0, len(encoded), DECODE_BATCH)
    ]
    empty = np.zeros((0, *description.image_shape), np.uint8)
    return np.concatenate(batches) if batches else empty


def read_split(
    examples_uri: str, split: str, description: DatasetDescription, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, H, W, C], labels int64 [N])`` of the first ``limit`` examples."""
    encoded, labels = read_encoded(examples_uri, split, limit)
    return decode(encoded, description), labels


def unique_images(examples_uri: str, split: str) -> int:
    """How many distinct images (by their encoded bytes) the split holds: duplicates inflate
    a split without adding information, and a test image repeated in train leaks."""
    return len({hashlib.sha1(image).digest() for image, _ in iter_records(examples_uri, split)})
