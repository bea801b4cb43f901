"""The data layer's settings: where CIFAR-10 comes from, its layout, splits and spans.

Owned here because the data step runs first and alone (the Airflow DAG's first task, the
release loop's load generator); the pipeline and the tools read these names from here.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

DATA_ROOT_ENV = "CIFAR10_DATA_ROOT"
# On these machines the real CIFAR-10 subset sits beside the clone.
SHARED_DATA_ROOT = REPO_ROOT.parent / "shared" / "data" / "cifar-10-batches-py"
DOWNLOAD_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cifar10-tfx"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_DIRNAME = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"

EVAL_FRACTION = 0.1  # share of the training batches held out for early stopping
SPLIT_SEED = 42
TRAIN_SPLIT, EVAL_SPLIT, TEST_SPLIT = "train", "eval", "test"
SPAN_DIR_PREFIX = "span-"
SPAN_MANIFEST = "manifest.json"
