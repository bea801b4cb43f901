"""Input drift: compare the pixel intensities of live requests with the training statistics.

The reference is the histogram TFDV computed for Transform's output feature ``image``
(float pixels in [0, 1]) in ``post_transform_stats/FeatureStats.pb``. Live images are
binned on the same bucket edges and compared with the Jensen-Shannon distance (base 2,
0 = identical, 1 = disjoint).

Measured on the real CIFAR-10 subset against the demo's 1,000-image pipeline run
(``cifar10-rollout drift [--shift inverted|darkened]``, 300 images): held-back test images
0.033, inverted 0.111, darkened (x0.5) 0.533. The policy threshold (0.07) sits between, so
the existing transformed-feature statistics suffice and the model module is unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.distance import jensenshannon

from models import features
from pipeline import configs
from rollout.policy import DriftPolicy

log = logging.getLogger(__name__)

STATS_FILE = "FeatureStats.pb"
POST_TRANSFORM_STATS = "post_transform_stats"


class DriftReferenceError(RuntimeError):
    """No usable training statistics were found."""


@dataclass(frozen=True)
class PixelReference:
    """Training pixel-intensity histogram: bucket edges and bucket probabilities."""

    edges: np.ndarray  # len(probabilities) + 1, ascending
    probabilities: np.ndarray
    source: str

    def bin_counts(self, images: np.ndarray) -> np.ndarray:
        """Per-image bucket counts, shape [N, buckets]; images are uint8 or float in [0, 1]."""
        pixels = np.asarray(images)
        if pixels.dtype == np.uint8:
            pixels = pixels.astype(np.float32) / 255.0
        pixels = pixels.reshape(len(pixels), -1)
        inner = self.edges[1:-1]  # values below/above the outer edges go to the end buckets
        index = np.searchsorted(inner, pixels, side="right")
        buckets = len(self.probabilities)
        return np.stack([np.bincount(row, minlength=buckets) for row in index])

    def distance(self, counts: np.ndarray) -> float:
        """Jensen-Shannon distance between summed bucket counts and the reference."""
        total = counts.sum()
        if total == 0:
            return 0.0
        return float(jensenshannon(counts / total, self.probabilities, base=2))


def load_reference(stats_path: Path | str,
                   feature: str = features.TRANSFORMED_IMAGE_KEY) -> PixelReference:
    """Read the standard histogram of ``feature`` from a TFDV statistics file."""
    from tensorflow_metadata.proto.v0 import statistics_pb2

    stats = statistics_pb2.DatasetFeatureStatisticsList()
    try:
        stats.ParseFromString(Path(stats_path).read_bytes())
    except OSError as e:
        raise DriftReferenceError(f"cannot read training statistics {stats_path}: {e}") from e
    for dataset in stats.datasets:
        for feat in dataset.features:
            if list(feat.path.step) != [feature] and feat.name != feature:
                continue
            for histogram in feat.num_stats.histograms:
                if histogram.type == statistics_pb2.Histogram.STANDARD and histogram.buckets:
                    edges = [histogram.buckets[0].low_value]
                    edges += [b.high_value for b in histogram.buckets]
                    counts = np.array([b.sample_count for b in histogram.buckets])
                    return PixelReference(np.array(edges), counts / counts.sum(),
                                          str(stats_path))
    raise DriftReferenceError(f"{stats_path}: no standard histogram for feature {feature!r}")


def find_training_stats(output_root: Path | str) -> Path:
    """The newest Transform ``post_transform_stats`` file: via ML Metadata when it records
    one, else the highest execution folder under the pipeline root."""
    output_root = Path(output_root)
    candidates: list[Path] = []
    db = configs.metadata_path(output_root)
    if db.exists():
        try:
            from tfx.orchestration import metadata

            conn = metadata.sqlite_metadata_connection_config(str(db))
            with metadata.Metadata(conn) as m:
                artifacts = m.store.get_artifacts_by_type("ExampleStatistics")
            for artifact in sorted(artifacts, key=lambda a: a.id, reverse=True):
                if POST_TRANSFORM_STATS in artifact.uri:
                    candidates += sorted(Path(artifact.uri).glob(f"**/{STATS_FILE}"))
        except Exception as e:  # noqa: BLE001 - fall back to the directory layout
            log.warning("ML Metadata lookup of training statistics failed: %s", e)
    if not candidates:
        root = configs.pipeline_root(output_root) / "Transform" / POST_TRANSFORM_STATS
        runs = sorted((p for p in root.glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
        candidates = [run / STATS_FILE for run in reversed(runs) if (run / STATS_FILE).exists()]
    if not candidates:
        raise DriftReferenceError(f"no Transform post_transform_stats under {output_root}; "
                                  "run the pipeline first")
    return candidates[0]


@dataclass(frozen=True)
class DriftReading:
    distance: float
    images: int
    drifted: bool
    alert: bool  # a new alert (drifted and outside the cooldown)


class DriftMonitor:
    """Keeps a rolling window of sampled images and flags drift against the reference.

    ``on_alert`` is called (outside the lock) with each new alert; the router wires it to
    the alert log and, with ``on_drift: retrain``, to a retrain request.
    """

    def __init__(self, reference: PixelReference, policy: DriftPolicy,
                 on_alert: Callable[[DriftReading], None] | None = None,
                 on_reading: Callable[[DriftReading], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reference = reference
        self.policy = policy
        self.on_alert = on_alert
        self.on_reading = on_reading
        self._clock = clock
        self._window: deque[np.ndarray] = deque(maxlen=policy.window_images)
        self._since_check = 0
        self._last_alert: float | None = None
        self._lock = threading.Lock()
        self.last: DriftReading | None = None

    def add(self, images: np.ndarray) -> DriftReading | None:
        """Add sampled images [N, 32, 32, 3]; returns a reading when one was computed."""
        counts = self.reference.bin_counts(images)
        with self._lock:
            self._window.extend(counts)
            self._since_check += len(counts)
            if (self._since_check < self.policy.check_every
                    or len(self._window) < self.policy.min_images):
                return None
            self._since_check = 0
            reading = self._read_locked()
        if self.on_reading:
            self.on_reading(reading)
        if reading.alert and self.on_alert:
            self.on_alert(reading)
        return reading

    def check(self) -> DriftReading:
        """The distance over the current window now (no minimum, no alert side effects)."""
        with self._lock:
            counts = np.sum(self._window, axis=0) if self._window else np.zeros(1)
            distance = self.reference.distance(counts)
            return DriftReading(distance, len(self._window),
                                distance > self.policy.threshold, alert=False)

    def _read_locked(self) -> DriftReading:
        distance = self.reference.distance(np.sum(self._window, axis=0))
        drifted = distance > self.policy.threshold
        now = self._clock()
        alert = drifted and (self._last_alert is None
                             or now - self._last_alert >= self.policy.cooldown_seconds)
        if alert:
            self._last_alert = now
        self.last = DriftReading(distance, len(self._window), drifted, alert)
        return self.last
