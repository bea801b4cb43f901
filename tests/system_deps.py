"""System programs some tests need (prometheus, promtool, chromium, mariadbd, ...).

`.ci/run` installs every Debian package listed in `.ci/apt-packages.txt`. Outside CI a
missing program skips the test with the package to install; under ``CI=true`` it fails, so
CI can never pass by silently skipping what it was meant to check.
"""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# Debian puts some server binaries outside PATH.
_EXTRA_DIRS = ("/usr/sbin", "/usr/lib/postgresql/15/bin", "/usr/bin")


def require_binary(name: str, apt_package: str) -> str:
    """Absolute path of ``name``; skips (locally) or fails (CI) when it is not installed."""
    found = shutil.which(name) or next(
        (str(Path(d, name)) for d in _EXTRA_DIRS if Path(d, name).is_file()), None
    )
    if found:
        return found
    skip_or_fail(f"{name} not found: install the Debian package '{apt_package}' (.ci/run does)")


def skip_or_fail(message: str) -> None:
    """Skip locally; under ``CI=true`` fail, so CI never passes by not checking."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


def require_shared_data() -> Path:
    """The real CIFAR-10 subset beside the clone (CI puts ../shared there)."""
    from ingest import settings as ingest_settings

    if not ingest_settings.SHARED_DATA_ROOT.is_dir():
        skip_or_fail(f"CIFAR-10 subset not found at {ingest_settings.SHARED_DATA_ROOT}")
    return ingest_settings.SHARED_DATA_ROOT


def shared_cifar(part: str = "test") -> Any:
    """Images and labels of the real subset (an ``ingest.cifar10.Batch``): ``"train"`` (its
    five training batches), ``"test"``, or one batch file's name. Read once per session and
    shared, so the arrays are read-only (copy before changing pixels); a skip locally, a
    failure under ``CI=true`` when the subset is missing."""
    return _load_shared_cifar(require_shared_data(), part)


@functools.cache
def _load_shared_cifar(root: Path, part: str) -> Any:
    from ingest import cifar10
    from ingest import settings as ingest_settings

    if part == "train":
        batch = cifar10.load_train(root)
    else:
        batch = cifar10.load_batch(root / (ingest_settings.TEST_BATCH if part == "test" else part))
    batch.images.setflags(write=False)
    batch.labels.setflags(write=False)
    return batch
