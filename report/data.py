"""Data facts: split sizes, class balance and image statistics, each split against train.

Class balance and image byte sizes come from StatisticsGen's ``FeatureStats.pb`` (what the
pipeline itself validated); pixel statistics are computed here from a sample of the span's
images, because StatisticsGen only sees the encoded bytes. Class ids index the run's dataset
description (``RunFacts.dataset``), gray or colour. Train is the baseline the other
splits are compared with, as TFDV compares serving data with training data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models import features
from models.dataset import DatasetDescription
from report.examples import read_split

PIXEL_SAMPLE = 500  # images per split for pixel statistics (~0.3 s per split)
PIXEL_BINS = 32


@dataclass
class SplitStats:
    """What StatisticsGen recorded for one split."""

    name: str
    num_examples: int
    class_counts: list[int]  # per class id, from the label histogram
    label_missing: int
    image_missing: int
    image_avg_bytes: float  # mean encoded image size
    image_unique: int | None  # None: StatisticsGen did not count them (image_domain bytes)
    other_labels: int = 0  # labels outside the class ids (what ExampleValidator flags)


@dataclass
class PixelStats:
    """Pixel statistics of a sample of one split's images."""

    name: str
    sample_size: int
    mean: list[float]  # per channel (R, G, B or gray), in [0, 255]
    std: list[float]
    histogram: list[list[float]]  # per channel, PIXEL_BINS densities summing to 1
    brightness: float  # mean over all channels


@dataclass
class DataFacts:
    span: int | None = None
    splits: list[SplitStats] = field(default_factory=list)
    pixels: list[PixelStats] = field(default_factory=list)

    def split(self, name: str) -> SplitStats | None:
        return next((s for s in self.splits if s.name == name), None)


def class_counts_from_histogram(
    buckets: list[tuple[float, float, float]], num_classes: int
) -> list[int]:
    """Per-class counts from TFDV's standard label histogram.

    TFDV has no categorical stats for an int feature without a schema, but its standard
    histogram over [min, max] (10 buckets) puts each of ten ids 0..9 in a bucket of its own
    (widths of 0.9); counts are spread linearly inside a bucket, so they are rounded. A bucket
    that holds several ids (more than ten classes) gives its count to the first, so with a
    curated schema (exact string stats) the counts are exact for any class count.
    """
    counts = [0.0] * num_classes
    for i, (low, high, count) in enumerate(buckets):
        last = i == len(buckets) - 1
        ids = [
            k
            for k in range(num_classes)
            if low <= k < high or (last and k == high) or (low == high == k)
        ]
        if ids:
            counts[ids[0]] += count
    return [int(round(c)) for c in counts]


def read_statistics(
    statistics_uri: str, split_names: list[str], num_classes: int
) -> list[SplitStats]:
    """One :class:`SplitStats` per split of a StatisticsGen artifact."""
    import tensorflow_data_validation as tfdv

    out = []
    for split in split_names:
        path = Path(statistics_uri, f"Split-{split}", "FeatureStats.pb")
        dataset = tfdv.load_stats_binary(str(path)).datasets[0]
        stats = SplitStats(split, int(dataset.num_examples), [0] * num_classes, 0, 0, 0.0, None)
        for feature in dataset.features:
            name = feature.path.step[0] if feature.path.step else feature.name
            if name == features.LABEL_KEY:
                _read_label(feature, stats)
            elif name == features.IMAGE_KEY:
                _read_image(feature, stats)
        out.append(stats)
    return out


def _read_label(feature, stats: SplitStats) -> None:
    """Class counts: exact per-value counts when the schema marks the label categorical
    (string stats), else the numeric histogram.

    Of the string stats, the rank histogram: TFDV keeps every value there (up to 1,000),
    but only the 20 most frequent in ``top_values``, so a 50-class dataset's other 30
    classes would read 0."""
    kind = feature.WhichOneof("stats")
    if kind == "string_stats":
        s = feature.string_stats
        stats.label_missing = int(s.common_stats.num_missing)
        values = [(b.label, b.sample_count) for b in s.rank_histogram.buckets] or [
            (top.value, top.frequency) for top in s.top_values
        ]
        for value, count in values:
            try:
                label = int(value)
            except ValueError:
                label = -1
            if 0 <= label < len(stats.class_counts):
                stats.class_counts[label] = int(round(count))
            else:
                stats.other_labels += int(round(count))
    elif kind == "num_stats":
        s = feature.num_stats
        stats.label_missing = int(s.common_stats.num_missing)
        standard = next((h for h in s.histograms if h.type == h.STANDARD), None)
        if standard is not None:
            stats.class_counts = class_counts_from_histogram(
                [(b.low_value, b.high_value, b.sample_count) for b in standard.buckets],
                len(stats.class_counts),
            )
        stats.other_labels = max(0, int(s.common_stats.num_non_missing) - sum(stats.class_counts))


def _read_image(feature, stats: SplitStats) -> None:
    """Encoded sizes: bytes stats with an image_domain schema, string stats without one.
    TFDV leaves ``unique`` at 0 for image_domain bytes: None then, counted from the records."""
    kind = feature.WhichOneof("stats")
    if kind == "bytes_stats":
        s = feature.bytes_stats
        stats.image_missing = int(s.common_stats.num_missing)
        stats.image_avg_bytes = float(s.avg_num_bytes)
        stats.image_unique = int(s.unique) or None
    elif kind == "string_stats":
        s = feature.string_stats
        stats.image_missing = int(s.common_stats.num_missing)
        stats.image_avg_bytes = float(s.avg_length)
        stats.image_unique = int(s.unique)


def pixel_stats(
    examples_uri: str, split: str, description: DatasetDescription, sample: int = PIXEL_SAMPLE
) -> PixelStats:
    """Mean, spread and intensity histogram per channel of the first ``sample`` images, at
    the model's input shape (the description's channels: 1 gray or 3 colour)."""
    images, _ = read_split(examples_uri, split, description, limit=sample)
    if not len(images):
        raise ValueError(f"split {split!r} has no images")
    channels = images.shape[-1]
    flat = images.reshape(-1, channels).astype(np.float64)
    hist = [np.histogram(flat[:, c], bins=PIXEL_BINS, range=(0, 256))[0] for c in range(channels)]
    return PixelStats(
        name=split,
        sample_size=len(images),
        mean=[float(v) for v in flat.mean(axis=0)],
        std=[float(v) for v in flat.std(axis=0)],
        histogram=[(h / h.sum()).tolist() for h in hist],
        brightness=float(flat.mean()),
    )


def shares(counts: list[int]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def linf_distance(counts: list[int], baseline: list[int]) -> float:
    """L-infinity distance of two class distributions: TFDV's drift/skew measure for
    categorical features."""
    pairs = zip(shares(counts), shares(baseline), strict=True)
    return max((abs(a - b) for a, b in pairs), default=0.0)


def js_distance(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) of two histograms."""
    pa, qa = np.asarray(p, float), np.asarray(q, float)
    pa, qa = pa / pa.sum(), qa / qa.sum()
    m = (pa + qa) / 2

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))

    return math.sqrt(max(0.0, (kl(pa, m) + kl(qa, m)) / 2))
