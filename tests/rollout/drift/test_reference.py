"""A drift reference for any served model: images of its data root at its input shape, and
output features named after its classes (read from the model's exported description)."""

from __future__ import annotations

import numpy as np
import pytest

from demos.synthetic_models import write_model
from models.dataset import DatasetDescription
from rollout.drift import signals as ds
from rollout.drift.reference import build_for_version, reference_images
from rollout.state import StatePaths
from tests.image_folder_fixtures import write_image_folder


def test_a_gray_folder_models_reference_names_its_classes(tmp_path):
    root = write_image_folder(
        tmp_path / "pets", classes=("cat", "dog", "ship"), per_class=20, sizes=[(40, 24)], gray=True
    )
    description = DatasetDescription(("cat", "dog", "ship"), 40, 24, 1)
    images = reference_images(root, description)
    assert images.dtype == np.uint8 and images.shape[1:] == (40, 24, 1) and len(images) >= 3
    model_dir = tmp_path / "serving" / "pets"
    write_model(model_dir / "7", "brightness", description)
    paths = StatePaths.for_output_root(tmp_path)
    paths.drift_reference(7).parent.mkdir(parents=True, exist_ok=True)
    reference = ds.DriftReference.load(
        build_for_version(paths, model_dir, 7, images, "version 7 on pets")
    )
    assert reference.version == 7 and reference.output is not None
    assert reference.output.names == ds.output_feature_names(("cat", "dog", "ship"))
    with pytest.raises(ValueError, match=r"reference images are \(32, 32, 3\) but version 7"):
        build_for_version(paths, model_dir, 7, np.zeros((4, 32, 32, 3), np.uint8), "cifar")
