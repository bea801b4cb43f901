"""Turn CIFAR-10 batches into TFRecord input spans for ImportExampleGen.

Layout: ``<examples_root>/span-N/{train,eval,test}/data-XXXXX-of-YYYYY.tfrecord`` shards of
``tf.train.Example``
(``image_raw``: PNG bytes, ``label``: int64). New data arrives as a new span; the pipeline's
``{SPAN}`` pattern picks up the latest (or a range). A span is written to a temporary folder
and renamed into place, so a crash never leaves a half-written span behind, and re-running on
unchanged source data reuses the latest span (which keeps the TFX cache warm).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ingest import cifar10, settings
from models import features

_SPAN_RE = re.compile(rf"^{re.escape(settings.SPAN_DIR_PREFIX)}(\d+)$")
SHARD_RECORDS = 10_000  # records per file: Beam reads files in parallel, not within one


@dataclass(frozen=True)
class SpanInfo:
    span: int
    path: Path
    counts: dict[str, int]
    reused: bool


def to_example(image: np.ndarray, label: int) -> tf.train.Example:
    png = tf.io.encode_png(image).numpy()
    return tf.train.Example(
        features=tf.train.Features(
            feature={
                features.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[png])),
                features.LABEL_KEY: tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[int(label)])
                ),
            }
        )
    )


def shard_paths(directory: Path, records: int) -> list[Path]:
    """``data-00000-of-0000N.tfrecord`` names for ``records`` records (at least one file)."""
    count = max(1, -(-records // SHARD_RECORDS))
    return [Path(directory) / f"data-{i:05d}-of-{count:05d}.tfrecord" for i in range(count)]


def write_split(batch: cifar10.Batch, directory: Path) -> int:
    """Write one split as TFRecord shards of at most ``SHARD_RECORDS`` examples each."""
    directory.mkdir(parents=True, exist_ok=True)
    for shard, path in enumerate(shard_paths(directory, len(batch))):
        part = slice(shard * SHARD_RECORDS, (shard + 1) * SHARD_RECORDS)
        with tf.io.TFRecordWriter(str(path)) as writer:
            for image, label in zip(batch.images[part], batch.labels[part], strict=True):
                writer.write(to_example(image, label).SerializeToString())
    return len(batch)


def split_train_eval(
    batch: cifar10.Batch, eval_fraction: float, seed: int
) -> tuple[cifar10.Batch, cifar10.Batch]:
    """Deterministic shuffle-split of the training batches into train and eval."""
    order = np.random.default_rng(seed).permutation(len(batch))
    n_eval = int(round(len(batch) * eval_fraction))
    pick = lambda idx: cifar10.Batch(batch.images[idx], batch.labels[idx])  # noqa: E731
    return pick(np.sort(order[n_eval:])), pick(np.sort(order[:n_eval]))


def existing_spans(examples_root: Path) -> list[int]:
    if not examples_root.is_dir():
        return []
    return sorted(
        int(m.group(1))
        for p in examples_root.iterdir()
        if (m := _SPAN_RE.match(p.name)) and p.is_dir()
    )


def span_dir(examples_root: Path, span: int) -> Path:
    return examples_root / f"{settings.SPAN_DIR_PREFIX}{span}"


def prepare_span(
    data_root: Path,
    examples_root: Path,
    eval_fraction: float = settings.EVAL_FRACTION,
    seed: int = settings.SPLIT_SEED,
    limit: int | None = None,
    force_new: bool = False,
) -> SpanInfo:
    """Convert ``data_root`` into a span, or reuse the latest span if it holds the same data.

    ``limit`` caps the number of training and test images (for smoke runs and tests).
    """
    data_root, examples_root = Path(data_root), Path(examples_root)
    cifar10.check_layout(data_root)
    source = {
        "fingerprint": cifar10.fingerprint(data_root),
        "limit": limit,
        "eval_fraction": eval_fraction,
        "seed": seed,
    }
    spans = existing_spans(examples_root)
    if spans and not force_new:
        latest = span_dir(examples_root, spans[-1])
        manifest = _read_manifest(latest)
        if manifest.get("source") == source:
            return SpanInfo(spans[-1], latest, manifest["counts"], reused=True)

    train_all = cifar10.load_train(data_root)
    test = cifar10.load_test(data_root)
    if limit is not None:
        train_all = cifar10.Batch(train_all.images[:limit], train_all.labels[:limit])
        test = cifar10.Batch(test.images[:limit], test.labels[:limit])
    train, eval_ = split_train_eval(train_all, eval_fraction, seed)
    splits = {settings.TRAIN_SPLIT: train, settings.EVAL_SPLIT: eval_, settings.TEST_SPLIT: test}
    empty = [name for name, b in splits.items() if len(b) == 0]
    if empty:
        raise cifar10.CifarDataError(
            f"{data_root}: split(s) {', '.join(empty)} would be empty "
            f"(train images: {len(train_all)}, test images: {len(test)}, "
            f"eval fraction: {eval_fraction})"
        )

    span = (spans[-1] + 1) if spans else 1
    final = span_dir(examples_root, span)
    examples_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=examples_root))
    try:
        counts = {name: write_split(b, tmp / name) for name, b in splits.items()}
        (tmp / settings.SPAN_MANIFEST).write_text(
            json.dumps({"source": source, "counts": counts, "data_root": str(data_root)}, indent=2)
        )
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SpanInfo(span, final, counts, reused=False)


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads((path / settings.SPAN_MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
