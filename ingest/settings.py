"""The data layer's settings: where CIFAR-10 comes from, its layout, splits and spans.

Owned here because the data step runs first and alone (the Airflow DAG's first task, the
release loop's load generator); the pipeline and the tools read these names from here.
"""

from __future__ import annotations

import os
from pathlib import Path

from models import dataset

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

# --- any labelled image dataset (issue 17): layouts, image files, limits
LAYOUT_AUTO, LAYOUT_CIFAR10 = "auto", "cifar10"
LAYOUT_IMAGE_FOLDER = "image_folder"  # DIR/<class>/<image>: train/eval/test carved by hash
LAYOUT_SPLIT_FOLDERS = "split_folders"  # DIR/train/<class>/..., DIR/test/<class>/... (+ eval/)
LAYOUTS = (LAYOUT_AUTO, LAYOUT_CIFAR10, LAYOUT_IMAGE_FOLDER, LAYOUT_SPLIT_FOLDERS)
# Folder names of the split_folders layout; Keras and torchvision datasets often say "val".
SPLIT_FOLDER_NAMES = {
    "train": TRAIN_SPLIT,
    "eval": EVAL_SPLIT,
    "val": EVAL_SPLIT,
    "valid": EVAL_SPLIT,
    "validation": EVAL_SPLIT,
    "test": TEST_SPLIT,
}
# Share of a class's images carved into the test split when the folder has no split folders
# (EVAL_FRACTION of the rest becomes eval, as for CIFAR-10's training batches).
TEST_FRACTION = 0.2
# Files read as images (case-insensitive); anything else in a class folder is ignored and counted.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)
# Images above this many pixels are refused from their header, before any decoding (the
# limit's home is models.dataset, which the serving signatures apply too).
MAX_IMAGE_PIXELS = dataset.MAX_IMAGE_PIXELS
PROGRESS_EVERY = 1000  # images between two progress callbacks
INFER_EXAMPLES_DIRNAME = "infer"  # unlabelled images for the BulkInferrer, beside the spans
