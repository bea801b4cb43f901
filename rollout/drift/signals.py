"""Drift signals worth acting on: per-image statistics and the model's own outputs, each
compared with a reference by a two-sample z-score of the window mean.

Why not only the pixel histogram (rollout/drift/monitor.py's ``PixelReference``)? A 10-bucket
intensity histogram is blind to what keeps the intensities but moves everything else:
blur, noise, JPEG artefacts, grayscale, and a shift in which classes arrive. Each feature
below targets one such change, is cheap (numpy on small images) and has a mean that a
window of a few hundred images estimates well. Images may be gray (1 channel) or colour (3)
at any size (the served model's input shape); outputs have one column per class of the
model's dataset, so a reference records its feature names and says how many classes it has:

* image features: brightness, contrast, per-channel means, saturation (grayscale),
  gradient energy (blur), high-frequency residual (noise), colour high frequency (noise,
  JPEG's chroma subsampling), 8x8 blockiness (JPEG), dark/bright pixel shares (inversion,
  unusual exposure);
* output features (from the served ``probabilities``): the share of each predicted class
  and the mean probability of each class (class-prior shift: the soft probabilities still
  move when a weak model confuses the class that became frequent), top-class confidence
  and normalised entropy (images unlike the training data).

Score of a window = max over features of |mean_window - mean_ref| / (sd_ref *
sqrt(1/n_window + 1/n_ref)). The threshold is not guessed: ``bench/bench_drift.py``
derives it from the null distribution of held-back CIFAR windows and writes it into
rollout/policy.yaml (``drift.score_threshold``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_FEATURES = (
    "brightness",
    "contrast",
    "mean_r",
    "mean_g",
    "mean_b",
    "saturation",
    "gradient",
    "high_freq",
    "chroma_high_freq",
    "blockiness",
    "dark_share",
    "bright_share",
)
OUTPUT_SUMMARY = ("confidence", "entropy")
IMAGE, OUTPUT = "image", "output"
_EPS = 1e-6
_PREDICTED = "predicted_"


def output_feature_names(class_names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The output features of a model with these classes: the share predicted as each
    class, each class's mean probability, then :data:`OUTPUT_SUMMARY`."""
    return (
        *(f"{_PREDICTED}{name}" for name in class_names),
        *(f"probability_{name}" for name in class_names),
        *OUTPUT_SUMMARY,
    )


def output_class_count(names: tuple[str, ...]) -> int | None:
    """How many classes an output reference's names describe; None for other references."""
    k, rest = divmod(len(names) - len(OUTPUT_SUMMARY), 2)
    if k < 2 or rest or names[-len(OUTPUT_SUMMARY) :] != OUTPUT_SUMMARY:
        return None
    return k if all(n.startswith(_PREDICTED) for n in names[:k]) else None


def _as_float(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or min(images.shape[1:3]) < 2:
        raise ValueError(
            f"expected images [N, height, width, 1 or 3] of at least 2x2, got shape {images.shape}"
        )
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    return images.astype(np.float32)


def _box3(x: np.ndarray) -> np.ndarray:
    """3x3 mean filter over the two spatial axes (edge-padded)."""
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = x.shape[1:]
    return sum(p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0


def _block_edges(length: int) -> np.ndarray:
    """Which of ``length`` neighbour differences cross an 8x8 JPEG block edge (7|8, 15|16,
    ...); an image under 9 pixels has none, so every difference counts as inside."""
    edges = np.zeros(length, bool)
    edges[7::8] = True
    return edges


def _mean_or_zero(values: np.ndarray) -> np.ndarray:
    if not values.size:
        return np.zeros(len(values), np.float32)
    return np.asarray(values.mean(axis=(1, 2)))


def image_features(images: np.ndarray) -> np.ndarray:
    """float32 [N, len(IMAGE_FEATURES)] for uint8 (or [0, 1] float) images [N, H, W, C] with
    C = 3 (colour) or 1 (gray: every channel mean is the gray mean, saturation and colour
    high frequency are 0)."""
    x = _as_float(images)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)  # a gray image is a colour image with equal channels
    gray = x @ np.array([0.299, 0.587, 0.114], np.float32)
    n = len(x)
    flat = gray.reshape(n, -1)
    dx = np.abs(np.diff(gray, axis=2))  # [N, H, W-1]: column-to-column differences
    dy = np.abs(np.diff(gray, axis=1))  # [N, H-1, W]
    chroma = x[..., 0] - x[..., 1]
    # JPEG blocks are 8x8: differences across a block edge grow relative to those inside.
    across_x, across_y = _block_edges(dx.shape[2]), _block_edges(dy.shape[1])
    blockiness = (_mean_or_zero(dx[:, :, across_x]) + _mean_or_zero(dy[:, across_y, :])) / (
        _mean_or_zero(dx[:, :, ~across_x]) + _mean_or_zero(dy[:, ~across_y, :]) + 0.01
    )
    columns = [
        flat.mean(axis=1),
        flat.std(axis=1),
        x[..., 0].reshape(n, -1).mean(axis=1),
        x[..., 1].reshape(n, -1).mean(axis=1),
        x[..., 2].reshape(n, -1).mean(axis=1),
        (x.max(axis=3) - x.min(axis=3)).reshape(n, -1).mean(axis=1),
        dx.mean(axis=(1, 2)) + dy.mean(axis=(1, 2)),
        np.abs(gray - _box3(gray)).reshape(n, -1).mean(axis=1),
        np.abs(chroma - _box3(chroma)).reshape(n, -1).mean(axis=1),
        blockiness,
        (flat < 0.1).mean(axis=1),
        (flat > 0.9).mean(axis=1),
    ]
    return np.stack(columns, axis=1).astype(np.float32)


def output_features(probabilities: np.ndarray) -> np.ndarray:
    """float32 [N, 2 * K + 2] (:func:`output_feature_names`) from the model's
    probabilities [N, K], K >= 2 classes."""
    p = np.asarray(probabilities, np.float32)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"expected probabilities [N, classes >= 2], got shape {p.shape}")
    k = p.shape[1]
    p = np.clip(p, 0.0, 1.0)
    one_hot = np.eye(k, dtype=np.float32)[p.argmax(axis=1)]
    entropy = -(p * np.log(p + 1e-12)).sum(axis=1) / np.log(k)
    return np.concatenate([one_hot, p, p.max(axis=1, keepdims=True), entropy[:, None]], axis=1)


@dataclass(frozen=True)
class SignalReference:
    """Per-feature mean and standard deviation over ``count`` reference rows."""

    names: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    count: int

    @classmethod
    def fit(cls, names: tuple[str, ...], rows: np.ndarray) -> SignalReference:
        rows = np.asarray(rows, np.float64)
        if rows.ndim != 2 or rows.shape[1] != len(names) or len(rows) < 2:
            raise ValueError(f"need >= 2 rows of {len(names)} features, got {rows.shape}")
        return cls(tuple(names), rows.mean(axis=0), rows.std(axis=0, ddof=1), len(rows))

    def z_scores(self, rows: np.ndarray) -> np.ndarray:
        """Two-sample z of each feature's window mean against the reference mean."""
        rows = np.asarray(rows, np.float64)
        n = len(rows)
        if n == 0:
            return np.zeros(len(self.names))
        # A feature constant in the reference (e.g. a class the model never predicts) gets
        # the spread of a binomial with one pseudo-count, not zero.
        floor = np.sqrt(1.0 / (self.count + 1))
        std = np.maximum(self.std, np.maximum(floor * 0.5, _EPS))
        return (rows.mean(axis=0) - self.mean) / (std * np.sqrt(1.0 / n + 1.0 / self.count))

    def to_json(self) -> dict:
        return {
            "names": list(self.names),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
            "count": self.count,
        }

    @classmethod
    def from_json(cls, data: dict) -> SignalReference:
        return cls(
            tuple(data["names"]),
            np.asarray(data["mean"]),
            np.asarray(data["std"]),
            int(data["count"]),
        )


@dataclass(frozen=True)
class Score:
    """A window's drift score: the largest |z| and which feature gave it."""

    value: float
    feature: str
    z: float

    def describe(self) -> str:
        return f"{self.feature} z={self.z:+.1f}"


def class_mix_z(reference: SignalReference, rows: np.ndarray) -> float:
    """The predicted-class mix as a whole: Pearson's chi-square of the window's predicted
    class counts against the reference shares (variance widened for the reference's own
    sampling noise), mapped to the z scale by the Wilson-Hilferty cube root. A class-prior
    shift spread over several confusable classes moves each share a little, which this
    sees and a per-class z does not."""
    k = output_class_count(reference.names)
    if k is None:
        raise ValueError("class_mix_z needs an output reference (predicted_* features)")
    n = len(rows)
    if n == 0:
        return 0.0
    expected = np.maximum(reference.mean[:k], 0.5 / reference.count)
    observed = np.asarray(rows, np.float64)[:, :k].mean(axis=0)
    chi2 = n * np.sum((observed - expected) ** 2 / expected) / (1.0 + n / reference.count)
    df = k - 1
    spread = 2.0 / (9 * df)
    return float(((chi2 / df) ** (1 / 3) - (1 - spread)) / np.sqrt(spread))


def window_score(reference: SignalReference, rows: np.ndarray) -> Score:
    """The window's largest |z| over the reference's features (plus the class mix, for
    output references)."""
    z = reference.z_scores(rows)
    worst = int(np.argmax(np.abs(z)))
    best = Score(float(abs(z[worst])), reference.names[worst], float(z[worst]))
    if output_class_count(reference.names) is not None:
        mix = class_mix_z(reference, rows)
        if mix > best.value:
            best = Score(mix, "class_mix", mix)
    return best


PIXEL_BUCKETS = 10  # as TFDV's standard histogram


def pixel_histogram(images: np.ndarray) -> np.ndarray:
    """Share of pixel values in 10 equal buckets over [0, 1]."""
    counts, _ = np.histogram(_as_float(images).ravel(), bins=PIXEL_BUCKETS, range=(0.0, 1.0))
    return counts / max(counts.sum(), 1)


@dataclass(frozen=True)
class DriftReference:
    """The reference both signals compare with: image statistics of the reference images
    and, when a model ran on them, its output statistics (for one model version). It also
    keeps the images' pixel histogram, the pixel-distance reference when the pipeline
    recorded no Transform statistics (Transform runs with ``disable_statistics``)."""

    image: SignalReference
    output: SignalReference | None
    source: str
    version: int | None = None
    pixels: np.ndarray | None = None

    def save(self, path: Path | str) -> Path:
        from rollout import atomic_io

        atomic_io.write_json_atomic(
            path,
            {
                "image": self.image.to_json(),
                "output": self.output.to_json() if self.output else None,
                "pixels": None if self.pixels is None else self.pixels.tolist(),
                "source": self.source,
                "version": self.version,
            },
        )
        return Path(path)

    @classmethod
    def load(cls, path: Path | str) -> DriftReference:
        data = json.loads(Path(path).read_text())
        output = SignalReference.from_json(data["output"]) if data.get("output") else None
        pixels = np.asarray(data["pixels"]) if data.get("pixels") is not None else None
        return cls(
            SignalReference.from_json(data["image"]),
            output,
            data["source"],
            data.get("version"),
            pixels,
        )


def build_reference(
    images: np.ndarray,
    probabilities: np.ndarray | None,
    source: str,
    version: int | None = None,
    class_names: tuple[str, ...] | None = None,
) -> DriftReference:
    """The reference of ``images`` (any size, 1 or 3 channels) and, when given, the model's
    ``probabilities`` [N, K] on them; ``class_names`` (the model's, K of them) name the
    output features (default: ``class_0`` ... ``class_{K-1}``)."""
    image = SignalReference.fit(IMAGE_FEATURES, image_features(images))
    output = None
    if probabilities is not None:
        rows = output_features(probabilities)
        k = (rows.shape[1] - len(OUTPUT_SUMMARY)) // 2
        names = tuple(class_names) if class_names else tuple(f"class_{i}" for i in range(k))
        if len(names) != k:
            raise ValueError(f"{len(names)} class names for probabilities of {k} classes")
        output = SignalReference.fit(output_feature_names(names), rows)
    return DriftReference(image, output, source, version, pixel_histogram(images))
