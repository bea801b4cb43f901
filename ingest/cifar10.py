"""Read CIFAR-10 in its official "python version" layout, validating as we go.

The same code reads the full dataset (50,000 + 10,000 images) and the shared subset: both
are pickled dicts with ``data`` (N x 3072 uint8, channel-major rows) and ``labels``.
Every problem becomes a :class:`CifarDataError` naming the file and what is wrong, so the
runner can print it and exit non-zero before anything is trained or pushed.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest import settings
from ingest.errors import DataError
from models.dataset import CIFAR10, CIFAR10_CLASS_NAMES

PIXELS_PER_IMAGE = CIFAR10.height * CIFAR10.width * CIFAR10.channels


# The historical name of the data layer's error: callers that catch it catch every ingest
# error (an image folder's too). New code catches ``ingest.errors.DataError``.
CifarDataError = DataError


@dataclass(frozen=True)
class Batch:
    """Images as uint8 [N, 32, 32, 3] (HWC) and labels as int64 [N]."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_batch(path: Path) -> Batch:
    """Load one pickled batch file and check its shape; labels are range-checked later by the
    schema (ExampleValidator), so the data step does not silently drop anything."""
    path = Path(path)
    if not path.is_file():
        raise CifarDataError(f"{path}: batch file is missing")
    try:
        with path.open("rb") as f:
            raw = pickle.load(f, encoding="bytes")
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        MemoryError,
    ) as e:
        raise CifarDataError(
            f"{path}: corrupt or truncated batch file ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(raw, dict):
        raise CifarDataError(f"{path}: expected a pickled dict, got {type(raw).__name__}")
    raw = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    for key in ("data", "labels"):
        if key not in raw:
            raise CifarDataError(f"{path}: missing key {key!r} (keys: {sorted(raw)})")
    data = np.asarray(raw["data"])
    if data.ndim != 2 or data.shape[1] != PIXELS_PER_IMAGE:
        raise CifarDataError(
            f"{path}: images of the wrong size: expected rows of {PIXELS_PER_IMAGE} values "
            f"(32x32x3), got array of shape {data.shape}"
        )
    if data.dtype != np.uint8:
        raise CifarDataError(f"{path}: expected uint8 pixels, got {data.dtype}")
    try:
        labels = np.asarray(raw["labels"], dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise CifarDataError(f"{path}: labels are not integers ({e})") from e
    if labels.shape != (data.shape[0],):
        raise CifarDataError(f"{path}: {data.shape[0]} images but labels of shape {labels.shape}")
    images = data.reshape(-1, CIFAR10.channels, CIFAR10.height, CIFAR10.width).transpose(0, 2, 3, 1)
    return Batch(images=np.ascontiguousarray(images), labels=labels)


def concat(batches: list[Batch]) -> Batch:
    return Batch(
        images=np.concatenate([b.images for b in batches]),
        labels=np.concatenate([b.labels for b in batches]),
    )


def load_train(root: Path) -> Batch:
    return concat([load_batch(Path(root) / name) for name in settings.TRAIN_BATCHES])


def load_test(root: Path) -> Batch:
    return load_batch(Path(root) / settings.TEST_BATCH)


def class_names(root: Path) -> tuple[str, ...]:
    """Class names in id order from ``batches.meta`` (CIFAR-10's own names when the file is
    absent, as in folders holding only the batches)."""
    path = Path(root) / settings.META_FILE
    if not path.is_file():
        return CIFAR10_CLASS_NAMES
    try:
        with path.open("rb") as f:
            meta = pickle.load(f, encoding="bytes")
        names = meta.get(b"label_names", meta.get("label_names"))
        decoded = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except (pickle.UnpicklingError, EOFError, AttributeError, TypeError, ValueError) as e:
        raise CifarDataError(f"{path}: unreadable batches.meta ({type(e).__name__}: {e})") from e
    if len(decoded) != len(set(decoded)) or not all(decoded):
        raise CifarDataError(f"{path}: label_names must be distinct and non-empty: {decoded}")
    return decoded


def check_layout(root: Path) -> None:
    """Fail with one message listing every missing file of the official layout."""
    root = Path(root)
    if not root.is_dir():
        raise CifarDataError(
            f"data root {root} does not exist; pass --data-root or set "
            f"{settings.DATA_ROOT_ENV} to a folder in the cifar-10-batches-py layout"
        )
    names = (*settings.TRAIN_BATCHES, settings.TEST_BATCH)
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise CifarDataError(
            f"data root {root} is not in the cifar-10-batches-py layout: "
            f"missing {', '.join(missing)}"
        )


def fingerprint(root: Path) -> str:
    """Content hash of the batch files, used to decide whether a new span is needed."""
    h = hashlib.sha256()
    for name in (*settings.TRAIN_BATCHES, settings.TEST_BATCH):
        h.update(name.encode())
        h.update((Path(root) / name).read_bytes())
    return h.hexdigest()


def resolve_data_root(explicit: str | None, env: dict[str, str]) -> Path:
    """--data-root, then $CIFAR10_DATA_ROOT, then the shared subset, then the download cache
    (downloading the official archive if needed)."""
    if explicit:
        return Path(explicit)
    if env.get(settings.DATA_ROOT_ENV):
        return Path(env[settings.DATA_ROOT_ENV])
    if settings.SHARED_DATA_ROOT.is_dir():
        return settings.SHARED_DATA_ROOT
    return download(settings.DOWNLOAD_CACHE)


def download(
    cache_dir: Path, url: str = settings.CIFAR10_URL, md5: str = settings.CIFAR10_MD5
) -> Path:
    """Fetch and unpack the official archive once, verifying its MD5 before unpacking."""
    target = Path(cache_dir) / settings.CIFAR10_DIRNAME
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        with (
            urllib.request.urlopen(url, timeout=30) as resp,
            tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".tar.gz", delete=False) as tmp,
        ):
            total = int(resp.headers.get("Content-Length") or 0)
            digest, done = hashlib.md5(), 0
            while chunk := resp.read(1 << 20):
                tmp.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                _progress(done, total)
            sys.stderr.write("\n")
    except (urllib.error.URLError, OSError) as e:
        raise CifarDataError(
            f"could not download CIFAR-10 from {url} ({e}). Offline? Point --data-root or "
            f"{settings.DATA_ROOT_ENV} at a local cifar-10-batches-py folder."
        ) from e
    archive = Path(tmp.name)
    if digest.hexdigest() != md5:
        archive.unlink(missing_ok=True)
        raise CifarDataError(f"download from {url} failed its checksum (md5 {digest.hexdigest()})")
    with tarfile.open(archive) as tar:
        tar.extractall(cache_dir, filter="data")
    archive.unlink()
    return target


def _progress(done: int, total: int) -> None:
    if total:
        width = 40
        filled = width * done // total
        sys.stderr.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        )
    else:
        sys.stderr.write(f"\r{done / 1e6:.1f} MB")
    sys.stderr.flush()
