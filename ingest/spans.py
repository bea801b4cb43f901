"""Turn a data root (CIFAR-10's batches or a folder of images) into a TFRecord input span.

Layout: ``<examples_root>/span-N/{train,eval,test}/data-XXXXX-of-YYYYY.tfrecord`` shards of
``tf.train.Example`` (``image_raw``: encoded image bytes, ``label``: int64), beside
``dataset.json`` (the :class:`~models.dataset.DatasetDescription`: class names, input shape,
counts) and ``manifest.json`` (what the span was made from, what was left out). New data arrives
as a new span; the pipeline's ``{SPAN}`` pattern picks up the latest (or a range). A span is
written to a temporary folder and renamed into place, so a crash never leaves a half-written
span behind, and re-running on unchanged source data reuses the latest span (which keeps the
TFX cache warm).

:func:`prepare_span` is the one entry for every source; the layout is detected
(:mod:`ingest.layout`) or named.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ingest import cifar10, settings
from ingest.errors import DataError
from ingest.folder_plan import plan_folder
from ingest.image_folder import write_folder_span
from ingest.layout import detect_layout
from ingest.options import check_options
from ingest.progress import WRITING, ProgressCallback, Reporter
from ingest.tfrecords import shard_paths as _shard_paths
from ingest.tfrecords import to_example
from ingest.walk import Skipped
from models.dataset import CIFAR10, DatasetDescription, DatasetDescriptionError

__all__ = ["SpanInfo", "existing_spans", "prepare_span", "span_dir", "to_example"]

_SPAN_RE = re.compile(rf"^{re.escape(settings.SPAN_DIR_PREFIX)}(\d+)$")
SHARD_RECORDS = 10_000  # records per file: Beam reads files in parallel, not within one


@dataclass(frozen=True)
class SpanInfo:
    """A span ready for the pipeline: where it is, what it holds and what was left out.

    ``counts`` is split -> number of examples; ``description`` is the span's ``dataset.json``;
    ``ignored`` lists the files that are no images (hidden, other extensions, 0 bytes, symlink
    loops) and ``bad_images`` the unusable images skipped with ``skip_bad_images``."""

    span: int
    path: Path
    counts: dict[str, int]
    reused: bool
    description: DatasetDescription = CIFAR10
    ignored: tuple[Skipped, ...] = ()
    bad_images: tuple[Skipped, ...] = ()


def shard_paths(directory: Path, records: int) -> list[Path]:
    """``data-00000-of-0000N.tfrecord`` names for ``records`` records (at least one file)."""
    return _shard_paths(directory, records, SHARD_RECORDS)


def write_split(batch: cifar10.Batch, directory: Path, reporter: Reporter | None = None) -> int:
    """Write one split as TFRecord shards of at most ``SHARD_RECORDS`` examples each."""
    directory.mkdir(parents=True, exist_ok=True)
    for shard, path in enumerate(shard_paths(directory, len(batch))):
        part = slice(shard * SHARD_RECORDS, (shard + 1) * SHARD_RECORDS)
        with tf.io.TFRecordWriter(str(path)) as writer:
            for image, label in zip(batch.images[part], batch.labels[part], strict=True):
                writer.write(to_example(image, label).SerializeToString())
                if reporter is not None:
                    reporter.step()
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
    *,
    layout: str = settings.LAYOUT_AUTO,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    skip_bad_images: bool = False,
    test_fraction: float = settings.TEST_FRACTION,
    progress: ProgressCallback | None = None,
) -> SpanInfo:
    """Convert ``data_root`` into a span, or reuse the latest span if it holds the same data
    made the same way. Raises :class:`~ingest.errors.DataError` (naming the file or folder)
    for input the pipeline cannot use; nothing is left behind then.

    ``layout``: ``auto`` (detected), ``cifar10``, ``image_folder`` or ``split_folders``.
    ``image_size`` (height, width) and ``channels`` (1 or 3) set the model's input shape
    (default: the images' common size; 1 channel when every image is gray). ``limit`` caps the
    number of training and test images (for smoke runs and tests). ``test_fraction`` is used
    only when an image folder has no test split of its own. ``progress`` is called every
    ``settings.PROGRESS_EVERY`` images.
    """
    data_root, examples_root = Path(data_root), Path(examples_root)
    check_options(image_size=image_size, channels=channels, limit=limit)
    for name, fraction in (("eval_fraction", eval_fraction), ("test_fraction", test_fraction)):
        if not 0 < fraction < 1:
            raise DataError(f"{name} must be between 0 and 1, got {fraction}")
    layout = detect_layout(data_root, layout)
    requested = {
        "limit": limit,
        "eval_fraction": eval_fraction,
        "seed": seed,
        "image_size": list(image_size) if image_size else None,
        "channels": channels,
    }
    plan = None
    if layout == settings.LAYOUT_CIFAR10:
        cifar10.check_layout(data_root)
        source = {"kind": "cifar10", "fingerprint": cifar10.fingerprint(data_root), **requested}
    else:
        plan = plan_folder(
            data_root,
            layout,
            eval_fraction=eval_fraction,
            test_fraction=test_fraction,
            seed=seed,
            limit=limit,
        )
        source = {
            "kind": "image_folder",
            "layout": layout,
            "fingerprint": plan.fingerprint,
            "test_fraction": test_fraction,
            "skip_bad_images": skip_bad_images,
            **requested,
        }
    spans = existing_spans(examples_root)
    if spans and not force_new:
        reused = _reuse(span_dir(examples_root, spans[-1]), spans[-1], source)
        if reused is not None:
            return reused

    span = (spans[-1] + 1) if spans else 1
    final = span_dir(examples_root, span)
    examples_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=examples_root))
    try:
        if plan is None:
            description, counts = _write_cifar(
                data_root, tmp, eval_fraction, seed, limit, image_size, channels, progress
            )
            ignored: tuple[Skipped, ...] = ()
            bad: tuple[Skipped, ...] = ()
        else:
            written = write_folder_span(
                plan,
                tmp,
                image_size=image_size,
                channels=channels,
                skip_bad_images=skip_bad_images,
                shard_records=SHARD_RECORDS,
                progress=progress,
            )
            description, ignored, bad = written.description, plan.ignored, written.bad_images
            counts = {split: sum(c.values()) for split, c in description.counts.items()}
        manifest = {
            "source": source,
            "counts": counts,
            "data_root": str(data_root),
            "ignored": [asdict(s) for s in ignored],
            "bad_images": [asdict(s) for s in bad],
        }
        (tmp / settings.SPAN_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        description.save(tmp)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SpanInfo(span, final, counts, False, description, ignored, bad)


def _reuse(latest: Path, span: int, source: dict[str, Any]) -> SpanInfo | None:
    """The latest span as a :class:`SpanInfo` if it was made from ``source``, else None."""
    manifest = read_manifest(latest)
    if manifest.get("source") != source:
        return None
    try:
        description = DatasetDescription.load(latest)
    except DatasetDescriptionError:
        return None  # a span from before descriptions existed: write a new one
    skipped = lambda key: tuple(Skipped(**s) for s in manifest.get(key, []))  # noqa: E731
    return SpanInfo(
        span,
        latest,
        manifest["counts"],
        True,
        description,
        skipped("ignored"),
        skipped("bad_images"),
    )


def _write_cifar(
    data_root: Path,
    directory: Path,
    eval_fraction: float,
    seed: int,
    limit: int | None,
    image_size: tuple[int, int] | None,
    channels: int | None,
    progress: ProgressCallback | None,
) -> tuple[DatasetDescription, dict[str, int]]:
    """Write CIFAR-10's batches as train (shuffle-split with eval), eval and test; describe them
    with ``batches.meta``'s class names. Returns the description and the records per split
    (which count labels outside the classes too)."""
    names = cifar10.class_names(data_root)
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
    reporter = Reporter(progress, WRITING, sum(len(b) for b in splits.values()))
    counts = {name: write_split(b, directory / name, reporter) for name, b in splits.items()}
    reporter.finish()
    height, width = image_size or (CIFAR10.height, CIFAR10.width)
    description = CIFAR10.with_changes(
        class_names=names,
        height=int(height),
        width=int(width),
        channels=channels or CIFAR10.channels,
        counts={split: _class_counts(batch, names) for split, batch in splits.items()},
        source={"kind": "cifar10", "path": str(data_root), "layout": settings.LAYOUT_CIFAR10},
        fingerprint=cifar10.fingerprint(data_root),
    )
    return description, counts


def _class_counts(batch: cifar10.Batch, names: tuple[str, ...]) -> dict[str, int]:
    """Images per class name; ids outside the classes are left to the schema's check
    (ExampleValidator reports them) rather than dropped here."""
    ids, counts = np.unique(batch.labels, return_counts=True)
    per_id = dict(zip(ids.tolist(), counts.tolist(), strict=True))
    return {name: int(per_id.get(i, 0)) for i, name in enumerate(names)}


def read_manifest(path: Path) -> dict[str, Any]:
    """``manifest.json`` of a span (or of inference examples); empty when absent or unreadable."""
    try:
        data = json.loads((path / settings.SPAN_MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
