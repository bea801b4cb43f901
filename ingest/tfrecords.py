"""tf.Examples and the sharded TFRecord files ImportExampleGen reads.

Every split is ``data-XXXXX-of-YYYYY.tfrecord`` shards of at most ``shard_records`` records
(Beam reads files in parallel, not within one). :class:`ShardedWriter` streams records to disk as
they come, so memory does not grow with the number of images; since the shard count is known only
at the end (bad images may be skipped), shards are written under temporary names and renamed
when the writer closes.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np
import tensorflow as tf

from models import features


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def image_example(encoded: bytes, label: int) -> tf.train.Example:
    """A labelled example: the encoded image (``image_raw``) and its class id (``label``)."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: _bytes_feature(encoded),
                features.LABEL_KEY: tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(label)])
                ),
            }
        )
    )


def to_example(image: np.ndarray, label: int) -> tf.train.Example:
    """A labelled example from uint8 pixels [H, W, C], stored as a lossless PNG."""
    return image_example(tf.io.encode_png(image).numpy(), label)


def inference_example(encoded: bytes, relative_path: str) -> tf.train.Example:
    """An unlabelled example for the BulkInferrer: the image and where it came from."""
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: _bytes_feature(encoded),
                features.IMAGE_PATH_KEY: _bytes_feature(relative_path.encode("utf-8")),
            }
        )
    )


def shard_paths(directory: Path, records: int, shard_records: int) -> list[Path]:
    """``data-00000-of-0000N.tfrecord`` names for ``records`` records (at least one file)."""
    count = max(1, -(-records // shard_records))
    return [Path(directory) / f"data-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]


class ShardedWriter:
    """Write serialized records into ``directory`` as numbered shards, streaming."""

    def __init__(self, directory: Path, shard_records: int) -> None:
        if shard_records < 1:
            raise ValueError(f"shard_records must be positive, got {shard_records}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.shard_records = shard_records
        self.count = 0
        self._parts: list[Path] = []
        self._writer: tf.io.TFRecordWriter | None = None
        self._closed = False

    def write(self, record: bytes) -> None:
        if self._closed:
            raise ValueError(f"{self.directory}: writer already closed")
        if self.count % self.shard_records == 0:
            self._roll()
        assert self._writer is not None
        self._writer.write(record)
        self.count += 1

    def close(self) -> int:
        """Close the last shard, give every shard its final name; returns the record count."""
        if self._closed:
            return self.count
        if self._writer is None:
            self._roll()  # an empty split still gets one (empty) file
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        for part, final in zip(
            self._parts,
            shard_paths(self.directory, self.count, self.shard_records),
            strict=True,
        ):
            part.rename(final)
        self._closed = True
        return self.count

    def _roll(self) -> None:
        if self._writer is not None:
            self._writer.close()
        part = self.directory / f".part-{len(self._parts):05d}"
        self._parts.append(part)
        self._writer = tf.io.TFRecordWriter(str(part))

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        elif self._writer is not None:
            self._writer.close()  # the caller removes the unfinished folder
