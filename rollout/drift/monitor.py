"""Input drift: compare live requests with the training data and the model's baseline.

Two references, either one over its threshold is drift:

* the pixel-intensity histogram (below), cheap and always available once the pipeline ran;
* the drift signals of rollout/drift/signals.py (image statistics and the served model's
  outputs against a reference built from the test split), which see what the histogram
  cannot: blur, noise, JPEG, grayscale, class-prior shifts (bench/bench_drift.py).

The reference is the histogram TFDV computed for Transform's output feature ``image``
(float pixels in [0, 1]) in ``post_transform_stats/FeatureStats.pb``. Live images are
binned on the same bucket edges and compared with the Jensen-Shannon distance (base 2,
0 = identical, 1 = disjoint).

Measured on the real CIFAR-10 subset against the demo's 1,000-image pipeline run
(``cifar10-rollout drift [--shift inverted|darkened]``, 300 images): held-back test images
0.033, inverted 0.111, darkened (x0.5) 0.533. The policy threshold (0.07) sits between
(a thin margin for inversion; the drift signals give a wide one, see docs/drift.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon

from models import features
from pipeline import configs
from rollout.drift import signals as ds
from rollout.drift.signals import DriftReference, Score
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


def load_reference(
    stats_path: Path | str, feature: str = features.TRANSFORMED_IMAGE_KEY
) -> PixelReference:
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
                    return PixelReference(np.array(edges), counts / counts.sum(), str(stats_path))
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
        except Exception as e:  # any store error: fall back to the directory layout
            log.warning("ML Metadata lookup of training statistics failed: %s", e)
    if not candidates:
        root = configs.pipeline_root(output_root) / "Transform" / POST_TRANSFORM_STATS
        runs = sorted((p for p in root.glob("*") if p.name.isdigit()), key=lambda p: int(p.name))
        candidates = [run / STATS_FILE for run in reversed(runs) if (run / STATS_FILE).exists()]
    if not candidates:
        raise DriftReferenceError(
            f"no Transform post_transform_stats under {output_root}; run the pipeline first"
        )
    return candidates[0]


@dataclass(frozen=True)
class DriftReading:
    distance: float  # pixel-histogram JS distance
    images: int
    drifted: bool
    alert: bool  # a new alert (drifted and outside the cooldown)
    score: Score | None = None  # drift-signal score (None without a drift reference)
    outputs: int = 0  # model outputs in the window that the score saw
    threshold: float = 0.0
    score_threshold: float = 0.0

    def describe(self) -> str:
        """Why this reading is (or is not) drift, in one line."""
        parts = [
            f"JS distance {self.distance:.3f} "
            f"{'>' if self.distance > self.threshold else '<='} threshold "
            f"{self.threshold:.3f}"
        ]
        if self.score is not None:
            op = ">" if self.score.value > self.score_threshold else "<="
            parts.append(
                f"drift score {self.score.value:.1f} {op} threshold "
                f"{self.score_threshold:.2f} ({self.score.describe()})"
            )
        return f"{', '.join(parts)} over {self.images} sampled images"

    def metrics(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "distance": self.distance,
            "images": self.images,
            "threshold": self.threshold,
        }
        if self.score is not None:
            out.update(
                score=self.score.value,
                score_feature=self.score.feature,
                score_z=self.score.z,
                score_threshold=self.score_threshold,
                outputs=self.outputs,
            )
        return out


class DriftMonitor:
    """Keeps a rolling window of sampled images (and the served model's outputs for them)
    and flags drift against the references: the pixel histogram (JS distance vs
    ``threshold``) and, with a :class:`~rollout.drift.signals.DriftReference`, the image and
    output statistics (max |z| vs ``score_threshold``). Either one over its threshold is
    drift.

    Outputs count only when they come from the model version the reference was built with
    (during a canary both versions answer; after a promotion ``signals_for(version)`` may
    supply the new version's reference). ``on_alert`` is called (outside the lock) with
    each new alert; the router wires it to the alert log and, with ``on_drift: retrain``,
    to a retrain request.
    """

    def __init__(
        self,
        reference: PixelReference,
        policy: DriftPolicy,
        on_alert: Callable[[DriftReading], None] | None = None,
        on_reading: Callable[[DriftReading], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        signals: DriftReference | None = None,
        signals_for: Callable[[int], DriftReference | None] | None = None,
    ) -> None:
        self.reference = reference
        self.policy = policy
        self.on_alert = on_alert
        self.on_reading = on_reading
        self.signals = signals
        self.signals_for = signals_for
        self._clock = clock
        self._window: deque[np.ndarray] = deque(maxlen=policy.window_images)
        self._image_rows: deque[np.ndarray] = deque(maxlen=policy.window_images)
        self._output_rows: deque[np.ndarray] = deque(maxlen=policy.window_images)
        self._since_check = 0
        self._last_alert: float | None = None
        self._lock = threading.Lock()
        self.last: DriftReading | None = None

    def _signals_for_version(self, version: int | None) -> DriftReference | None:
        """The reference whose outputs ``version`` should be compared with, if any."""
        current = self.signals
        if version is None or (current is not None and current.version in (None, version)):
            return current
        if self.signals_for is not None:
            found = self.signals_for(version)
            if found is not None:
                with self._lock:
                    self.signals = found
                    self._output_rows.clear()  # another model's outputs are not comparable
                return found
        return None

    def add(
        self,
        images: np.ndarray,
        probabilities: np.ndarray | None = None,
        version: int | None = None,
    ) -> DriftReading | None:
        """Add sampled images [N, H, W, C] (and the served probabilities [N, classes] with the
        version that produced them); returns a reading when one was computed."""
        counts = self.reference.bin_counts(images)
        image_rows = ds.image_features(images) if self.signals is not None else None
        output_rows = None
        signals = self._signals_for_version(version) if probabilities is not None else None
        if signals is not None and signals.output is not None:
            rows = ds.output_features(np.asarray(probabilities))
            # Another class count (another dataset's model) is not comparable: left out.
            if rows.shape[1] == len(signals.output.names):
                output_rows = rows
        with self._lock:
            self._window.extend(counts)
            if image_rows is not None:
                self._image_rows.extend(image_rows)
            if output_rows is not None:
                self._output_rows.extend(output_rows)
            self._since_check += len(counts)
            if (
                self._since_check < self.policy.check_every
                or len(self._window) < self.policy.min_images
            ):
                return None
            self._since_check = 0
            reading = self._read_locked(alerting=True)
        if self.on_reading:
            self.on_reading(reading)
        if reading.alert and self.on_alert:
            self.on_alert(reading)
        return reading

    def check(self) -> DriftReading:
        """The reading over the current window now (no minimum, no alert side effects)."""
        with self._lock:
            return self._read_locked(alerting=False)

    def _score_locked(self) -> tuple[Score | None, int]:
        if self.signals is None or not self._image_rows:
            return None, 0
        score = ds.window_score(self.signals.image, np.stack(self._image_rows))
        outputs = len(self._output_rows)
        if self.signals.output is not None and outputs >= self.policy.min_images:
            output_score = ds.window_score(self.signals.output, np.stack(self._output_rows))
            score = max(score, output_score, key=lambda s: s.value)
        return score, outputs

    def _read_locked(self, alerting: bool) -> DriftReading:
        counts = np.sum(self._window, axis=0) if self._window else np.zeros(1)
        distance = self.reference.distance(counts)
        score, outputs = self._score_locked()
        drifted = distance > self.policy.threshold or (
            score is not None and score.value > self.policy.score_threshold
        )
        alert = False
        if alerting:
            now = self._clock()
            alert = drifted and (
                self._last_alert is None or now - self._last_alert >= self.policy.cooldown_seconds
            )
            if alert:
                self._last_alert = now
        reading = DriftReading(
            distance,
            len(self._window),
            drifted,
            alert,
            score,
            outputs,
            self.policy.threshold,
            self.policy.score_threshold,
        )
        if alerting:
            self.last = reading
        return reading
