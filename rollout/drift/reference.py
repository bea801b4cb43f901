"""Build and find the drift-signal reference of a model version: the image statistics of the
test split and the version's own outputs on it (the split and model the Evaluator judged).

Built by ``cifar10-release`` after each push (and by ``cifar10-rollout drift-reference``),
read by the router's drift monitor. One file per version, because the output statistics
belong to one model: ``<output_root>/rollout/drift/reference-<version>.json``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from models import features
from models.dataset import DatasetDescription, from_model
from rollout.drift.signals import DriftReference, build_reference
from rollout.state import StatePaths

log = logging.getLogger(__name__)


def predict_saved_model(version_dir: Path, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """``probabilities`` [N, classes] of a pushed SavedModel's ``serving_images`` signature
    (``images`` uint8 at the model's input shape, :func:`models.dataset.from_model`)."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(version_dir)).signatures[features.SIGNATURE_IMAGES]
    out = [
        signature(**{features.INPUT_IMAGES: tf.constant(images[i : i + batch])})[
            features.OUTPUT_PROBABILITIES
        ].numpy()
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out)


def reference_images(data_root: Path, description: DatasetDescription) -> np.ndarray:
    """The test images of a data root at the model's input shape (uint8 [N, H, W, C]):
    CIFAR-10's test batch, or an image folder's test split as the pipeline carves it,
    decoded, converted and resized by the models' own graph function."""
    return labelled_test_split(data_root, description)[0]


def labelled_test_split(
    data_root: Path, description: DatasetDescription
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reference_images` with their class ids (for load generators' feedback)."""
    from ingest import cifar10
    from ingest import settings as ingest_settings
    from ingest.folder_plan import plan_folder
    from ingest.layout import detect_layout
    from report.examples import decode

    layout = detect_layout(Path(data_root))
    if layout == ingest_settings.LAYOUT_CIFAR10:
        batch = cifar10.load_test(Path(data_root))
        return batch.images, np.asarray(batch.labels)
    plan = plan_folder(Path(data_root), layout)
    test = [i for i in plan.images if i.split == ingest_settings.TEST_SPLIT]
    images = decode([plan.path(i).read_bytes() for i in test], description)
    return images, np.asarray([i.label for i in test], np.int64)


def folder_images(
    folder: Path, description: DatasetDescription, limit: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """The first ``limit`` readable images under ``folder`` (any layout; labels are not
    needed to see drift) at the model's input shape, and what was left out ("path: why"):
    hidden, non-image, empty and corrupt files, as ingest leaves them out. Raises
    ``DataError`` when nothing usable is there."""
    from ingest import images
    from ingest.errors import BadImageError, DataError
    from ingest.walk import Skipped, image_files
    from report.examples import decode

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder")
    skipped: list[Skipped] = []
    encoded: list[bytes] = []
    for found in image_files(folder, folder, skipped):
        if limit is not None and len(encoded) >= limit:
            break
        try:
            encoded.append(images.encoded_bytes(Path(found.path)))
        except BadImageError as e:
            skipped.append(Skipped(found.relative, e.reason))
    left_out = [f"{s.path}: {s.reason}" for s in skipped]
    if not encoded:
        raise DataError(f"{folder} holds no usable image ({len(left_out)} file(s) left out)")
    return decode(encoded, description), left_out


def build_for_version(
    paths: StatePaths, model_dir: Path, version: int, images: np.ndarray, source: str
) -> Path:
    """Run ``version`` on ``images`` and save the reference; returns its path.

    The output features are named after the model's own classes (its exported dataset
    description); images of another shape than the model's input are refused with both
    shapes named (a reference of other images would alarm on every window)."""
    version_dir = Path(model_dir) / str(version)
    description = from_model(version_dir)
    if tuple(np.shape(images)[1:]) != description.image_shape:
        raise ValueError(
            f"reference images are {tuple(np.shape(images)[1:])} but version {version} takes "
            f"{description.image_shape} (height, width, channels): build the reference from "
            "the data the model was trained on"
        )
    probabilities = predict_saved_model(version_dir, images)
    reference = build_reference(images, probabilities, source, version, description.class_names)
    return reference.save(paths.drift_reference(version))


def load_for_version(paths: StatePaths, version: int | None) -> DriftReference | None:
    """The saved reference of ``version``; None when there is none (or it is unreadable)."""
    if version is None:
        return None
    path = paths.drift_reference(version)
    if not path.exists():
        return None
    try:
        return DriftReference.load(path)
    except (OSError, ValueError, KeyError) as e:
        log.warning("drift reference %s unreadable: %s", path, e)
        return None
