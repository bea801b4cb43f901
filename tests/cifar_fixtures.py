"""Small CIFAR-10-layout data sets written on the fly, for tests that need bad or tiny data."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ingest import settings as ingest_settings
from models.dataset import CIFAR10_CLASS_NAMES


def write_batch(path: Path, images: np.ndarray, labels: list[int]) -> None:
    """Write one batch file the way the official archive does (pickled dict, bytes keys)."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072) if images.ndim == 4 else images
    with path.open("wb") as f:
        pickle.dump(
            {
                b"data": data,
                b"labels": list(labels),
                b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
            },
            f,
        )


def write_cifar_layout(
    root: Path,
    per_batch: int = 20,
    n_test: int = 20,
    seed: int = 0,
    labels: list[int] | None = None,
) -> Path:
    """A complete cifar-10-batches-py folder of random images; ``labels`` overrides every
    batch's labels (e.g. to inject out-of-range ids)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in [(b, per_batch) for b in ingest_settings.TRAIN_BATCHES] + [
        (ingest_settings.TEST_BATCH, n_test)
    ]:
        images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        batch_labels = labels[:n] if labels is not None else rng.integers(0, 10, n).tolist()
        write_batch(root / name, images, batch_labels)
    with (root / ingest_settings.META_FILE).open("wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR10_CLASS_NAMES]}, f)
    return root
