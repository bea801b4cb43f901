"""The description a model carries: read back from an exported model folder."""

from __future__ import annotations

import pytest

from models import dataset
from tests.models.conftest import GRAY


def test_a_model_without_a_description_is_a_cifar10_model(tmp_path):
    (tmp_path / "saved_model.pb").write_bytes(b"")
    assert dataset.from_model(tmp_path) == dataset.CIFAR10


def test_the_exported_description_is_read_back(tmp_path):
    path = dataset.exported_description_path(tmp_path)
    path.parent.mkdir()
    GRAY.save(path.parent)
    assert path == tmp_path / "assets.extra" / "dataset.json"
    assert dataset.from_model(tmp_path) == GRAY


def test_a_missing_folder_or_a_broken_description_is_an_error(tmp_path):
    with pytest.raises(dataset.DatasetDescriptionError, match="no such model folder"):
        dataset.from_model(tmp_path / "absent")
    path = dataset.exported_description_path(tmp_path)
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(dataset.DatasetDescriptionError, match="dataset.json.*not JSON"):
        dataset.from_model(tmp_path)
