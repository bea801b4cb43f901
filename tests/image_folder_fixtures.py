"""Small image-folder datasets made from the shared CIFAR-10 subset, for tests of any layer.

``write_image_folder(tmp_path / "photos", classes=("cat", "dog", "ship"))`` writes real CIFAR
images of those classes as ``DIR/<class>/<n>.jpg`` (or the ``split_folders`` layout), optionally
resized (one size, or a cycle of sizes for a mixed-size folder), in gray, and as PNG. Needs
the subset (``shared_cifar``: a skip locally, a failure under CI).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from models.dataset import CIFAR10_CLASS_NAMES
from tests.system_deps import shared_cifar

SUFFIXES = {"JPEG": ".jpg", "PNG": ".png"}


def cifar_images(class_name: str, count: int, offset: int = 0) -> np.ndarray:
    """``count`` real CIFAR-10 images (uint8 [N, 32, 32, 3]) of ``class_name``, from the
    subset's training batches, skipping the first ``offset`` of that class."""
    train = shared_cifar("train")
    picked = train.images[train.labels == CIFAR10_CLASS_NAMES.index(class_name)]
    if len(picked) < offset + count:
        raise ValueError(f"the subset has only {len(picked)} {class_name} images")
    return picked[offset : offset + count]


def write_image_folder(
    root: Path,
    classes: Sequence[str] = ("airplane", "cat", "ship"),
    per_class: int = 12,
    *,
    test_per_class: int = 0,
    sizes: Sequence[tuple[int, int]] = (),
    gray: bool = False,
    image_format: str = "JPEG",
) -> Path:
    """Write ``per_class`` images of each class under ``root/<class>/`` (and, when
    ``test_per_class`` is set, the split_folders layout: ``root/train/<class>/`` and
    ``root/test/<class>/``). ``sizes`` (height, width) are cycled over the images (default:
    CIFAR's 32x32); ``gray`` writes mode-L images."""
    suffix = SUFFIXES[image_format]
    for class_name in classes:
        images = cifar_images(class_name, per_class + test_per_class)
        targets = [("train", per_class), ("test", test_per_class)] if test_per_class else []
        start = 0
        for split, count in targets or [("", per_class)]:
            folder = root / split / class_name if split else root / class_name
            folder.mkdir(parents=True, exist_ok=True)
            for i, pixels in enumerate(images[start : start + count]):
                image = Image.fromarray(pixels)
                if sizes:
                    height, width = sizes[(start + i) % len(sizes)]
                    image = image.resize((width, height), Image.BILINEAR)
                if gray:
                    image = image.convert("L")
                image.save(folder / f"{class_name}_{start + i:04d}{suffix}", format=image_format)
            start += count
    return root
