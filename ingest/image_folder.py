"""Write an image-folder dataset (planned by :mod:`ingest.folder_plan`) into a span's splits.

Two streaming passes, one image in memory at a time, so peak memory does not grow with the
number of images:

1. headers (:func:`ingest.images.probe`): every image's size and mode, a decompression bomb or an
   unreadable file stopped before anything is written, and mixed sizes without ``image_size``
   refused at once;
2. examples: each image decoded once (corrupt or truncated data is found here), its bytes
   written to the split's TFRecord shards.

The model's input shape (:func:`input_shape`) comes from the images actually written, so a
skipped bad image of an odd size or mode does not change it.

A bad image is a :class:`BadImageError` naming it; with ``skip_bad_images`` it is left out
and listed instead, and the counts are those of what was written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest import images, settings
from ingest.errors import BadImageError, ClassFolderError, ImageSizeError
from ingest.folder_plan import FolderPlan, PlannedImage
from ingest.progress import CHECKING, WRITING, ProgressCallback, Reporter
from ingest.tfrecords import ShardedWriter, image_example
from ingest.walk import Skipped
from models.dataset import DatasetDescription

SPLITS = (settings.TRAIN_SPLIT, settings.EVAL_SPLIT, settings.TEST_SPLIT)


@dataclass(frozen=True)
class FolderSpan:
    """What writing a folder produced: its description and the images it left out."""

    description: DatasetDescription
    bad_images: tuple[Skipped, ...]


def write_folder_span(
    plan: FolderPlan,
    span_dir: Path,
    *,
    image_size: tuple[int, int] | None = None,
    channels: int | None = None,
    skip_bad_images: bool = False,
    shard_records: int,
    progress: ProgressCallback | None = None,
) -> FolderSpan:
    """Write ``plan`` into ``span_dir/{train,eval,test}`` and describe it."""
    bad: list[Skipped] = []
    headers: list[tuple[PlannedImage, images.ImageHeader]] = []
    reporter = Reporter(progress, CHECKING, len(plan.images))
    for image in plan.images:
        try:
            headers.append((image, images.probe(image.path)))
        except BadImageError as e:
            _skip_or_raise(e, image, skip_bad_images, bad)
        reporter.step()
    reporter.finish()
    if not skip_bad_images:
        input_shape(headers, image_size, channels)  # fail fast, before writing anything

    written: list[tuple[PlannedImage, images.ImageHeader]] = []
    counts: dict[str, dict[str, int]] = {s: defaultdict(int) for s in SPLITS}
    reporter = Reporter(progress, WRITING, len(headers))
    writers = {s: ShardedWriter(span_dir / s, shard_records) for s in SPLITS}
    for image, header in headers:
        try:
            encoded = images.encoded_bytes(image.path, header)
        except BadImageError as e:
            _skip_or_raise(e, image, skip_bad_images, bad)
        else:
            writers[image.split].write(image_example(encoded, image.label).SerializeToString())
            counts[image.split][plan.class_names[image.label]] += 1
            written.append((image, header))
        reporter.step()
    for writer in writers.values():
        writer.close()
    reporter.finish()
    _check_no_class_emptied(plan, counts, bad)
    height, width, chosen_channels = input_shape(written, image_size, channels)
    description = DatasetDescription(
        class_names=plan.class_names,
        height=height,
        width=width,
        channels=chosen_channels,
        counts={s: {n: counts[s][n] for n in plan.class_names} for s in SPLITS},
        source={"kind": "image_folder", "path": str(plan.root), "layout": plan.layout},
        fingerprint=plan.fingerprint,
    )
    return FolderSpan(description, tuple(bad))


def input_shape(
    headers: Sequence[tuple[PlannedImage, images.ImageHeader]],
    image_size: tuple[int, int] | None,
    channels: int | None,
) -> tuple[int, int, int]:
    """(height, width, channels) of the model's input: the images' own size when they share
    one, else ``image_size`` (required then); 1 channel when every image is gray, else 3."""
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if image_size is not None:
        height, width = (int(v) for v in image_size)
        if height < 1 or width < 1:
            raise ValueError(f"image_size must be positive (height, width), got {image_size!r}")
    else:
        first: dict[tuple[int, int], PlannedImage] = {}
        for image, header in headers:
            first.setdefault((header.height, header.width), image)
            if len(first) > 1:
                (size_a, a), (size_b, b) = first.items()
                raise ImageSizeError(
                    f"images have different sizes ({a.path} is {size_a[1]}x{size_a[0]}, "
                    f"{b.path} is {size_b[1]}x{size_b[0]}, width x height): pass "
                    "image_size=(height, width) (--image-size HxW) for the model's input size; "
                    "every image is resized to it in the graph, in training and serving alike"
                )
        if not first:
            raise ClassFolderError("no readable images left to write")
        ((height, width),) = first
    if channels is None:
        channels = 1 if all(header.is_gray for _, header in headers) else 3
    return height, width, channels


def _skip_or_raise(
    error: BadImageError, image: PlannedImage, skip: bool, bad: list[Skipped]
) -> None:
    if not skip:
        raise type(error)(
            error.path, f"{error.reason} (pass skip_bad_images / --skip-bad-images to leave it out)"
        ) from error
    bad.append(Skipped(image.relative, error.reason))


def _check_no_class_emptied(
    plan: FolderPlan, counts: dict[str, dict[str, int]], bad: list[Skipped]
) -> None:
    for split in SPLITS:
        emptied = [n for n in plan.class_names if not counts[split][n]]
        if emptied:
            raise ClassFolderError(
                f"{plan.root}: class(es) {', '.join(emptied)} have no usable image left in the "
                f"{split} split after skipping {len(bad)} bad image(s)"
            )
