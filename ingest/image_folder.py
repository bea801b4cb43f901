"""Write an image-folder dataset (planned by :mod:`ingest.folder_plan`) into a span's splits.

Two streaming passes, one image in memory at a time, so peak memory does not grow with the
number of images:

1. headers (:func:`ingest.images.probe`): every image's size and mode, a decompression bomb or an
   unreadable file stopped before anything is written, and mixed sizes without ``image_size``
   refused at once;
2. examples: each image decoded once (corrupt or truncated data is found here), its bytes
   written to the split's TFRecord shards.

The model's input shape (:meth:`ShapeTally.input_shape`) comes from the images actually
written, so a skipped bad image of an odd size or mode does not change it.

A bad image is a :class:`BadImageError` naming it; with ``skip_bad_images`` it is left out
and listed instead, and the counts are those of what was written.
"""

from __future__ import annotations

from collections import defaultdict
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
    checked = ShapeTally()
    reporter = Reporter(progress, CHECKING, len(plan.images))
    for image in plan.images:
        try:
            path = plan.path(image)
            checked.add(path, images.probe(path))
        except BadImageError as e:
            _skip_or_raise(e, image, skip_bad_images, bad)
        reporter.step()
    reporter.finish()
    if not skip_bad_images:
        checked.input_shape(image_size, channels)  # fail fast, before writing anything

    unreadable = {s.path for s in bad}
    written = ShapeTally()
    counts: dict[str, dict[str, int]] = {s: defaultdict(int) for s in SPLITS}
    reporter = Reporter(progress, WRITING, len(plan.images) - len(bad))
    writers = {s: ShardedWriter(span_dir / s, shard_records) for s in SPLITS}
    for image in plan.images:
        if image.relative in unreadable:
            continue
        try:
            loaded = images.load(plan.path(image))
        except BadImageError as e:
            _skip_or_raise(e, image, skip_bad_images, bad)
        else:
            example = image_example(loaded.encoded, image.label)
            writers[image.split].write(example.SerializeToString())
            counts[image.split][plan.class_names[image.label]] += 1
            written.add(plan.path(image), loaded.header)
        reporter.step()
    for writer in writers.values():
        writer.close()
    reporter.finish()
    _check_no_class_emptied(plan, counts, bad)
    height, width, chosen_channels = written.input_shape(image_size, channels)
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


class ShapeTally:
    """What the model's input shape needs to know of the images seen, in constant memory:
    the first image of each of at most two sizes, and whether every image was gray."""

    def __init__(self) -> None:
        self.first_of_size: dict[tuple[int, int], Path] = {}
        self.all_gray = True

    def add(self, path: Path, header: images.ImageHeader) -> None:
        if len(self.first_of_size) < 2:
            self.first_of_size.setdefault((header.height, header.width), path)
        self.all_gray = self.all_gray and header.is_gray

    def input_shape(
        self, image_size: tuple[int, int] | None, channels: int | None
    ) -> tuple[int, int, int]:
        """(height, width, channels) of the model's input: the images' own size when they
        share one, else ``image_size`` (required then); 1 channel when every image is gray,
        else 3; ``channels`` overrides."""
        if not self.first_of_size:
            raise ClassFolderError("no readable image left to write")
        if image_size is not None:
            height, width = image_size
        elif len(self.first_of_size) > 1:
            (size_a, a), (size_b, b) = self.first_of_size.items()
            raise ImageSizeError(
                f"images have different sizes ({a} is {size_a[1]}x{size_a[0]}, "
                f"{b} is {size_b[1]}x{size_b[0]}, width x height): pass "
                "image_size=(height, width) (--image-size HxW) for the model's input size; "
                "every image is resized to it in the graph, in training and serving alike"
            )
        else:
            ((height, width),) = self.first_of_size
        if channels is None:
            channels = 1 if self.all_gray else 3
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
