"""The CIFAR-10 reader: real layout, and a clear error for every kind of bad input."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from ingest import cifar10
from ingest import settings as ingest_settings
from tests.cifar_fixtures import write_batch, write_cifar_layout
from tests.system_deps import require_shared_data


def test_reads_shared_subset_in_official_layout():
    require_shared_data()
    cifar10.check_layout(ingest_settings.SHARED_DATA_ROOT)
    test = cifar10.load_test(ingest_settings.SHARED_DATA_ROOT)
    assert test.images.shape == (500, 32, 32, 3) and test.images.dtype == np.uint8
    assert set(np.unique(test.labels)) <= set(range(10))
    train = cifar10.load_train(ingest_settings.SHARED_DATA_ROOT)
    assert len(train) == 5085


def test_channel_major_rows_become_hwc_images(tmp_path):
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 0, 0] = (10, 20, 30)  # top-left pixel RGB
    write_batch(tmp_path / "b", image, [3])
    batch = cifar10.load_batch(tmp_path / "b")
    assert batch.images[0, 0, 0].tolist() == [10, 20, 30]
    assert batch.labels.tolist() == [3]


def test_missing_root_names_the_flag_and_env(tmp_path):
    with pytest.raises(cifar10.CifarDataError, match="--data-root.*CIFAR10_DATA_ROOT"):
        cifar10.check_layout(tmp_path / "nope")


def test_incomplete_layout_lists_missing_files(tmp_path):
    root = write_cifar_layout(tmp_path / "d", per_batch=2, n_test=2)
    (root / "data_batch_3").unlink()
    (root / "test_batch").unlink()
    with pytest.raises(cifar10.CifarDataError, match="missing data_batch_3, test_batch"):
        cifar10.check_layout(root)


def test_truncated_batch_is_reported_with_its_path(tmp_path):
    root = write_cifar_layout(tmp_path / "d", per_batch=4, n_test=2)
    blob = (root / "data_batch_2").read_bytes()
    (root / "data_batch_2").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(cifar10.CifarDataError, match="data_batch_2: corrupt or truncated"):
        cifar10.load_train(root)


def test_garbage_file_is_reported(tmp_path):
    (tmp_path / "b").write_bytes(b"this is not a pickle at all")
    with pytest.raises(cifar10.CifarDataError, match="corrupt or truncated"):
        cifar10.load_batch(tmp_path / "b")


def test_wrong_image_size_is_reported(tmp_path):
    write_batch(tmp_path / "b", np.zeros((2, 16 * 16 * 3), np.uint8), [0, 1])
    with pytest.raises(cifar10.CifarDataError, match="wrong size.*3072.*\\(2, 768\\)"):
        cifar10.load_batch(tmp_path / "b")


def test_label_count_mismatch_is_reported(tmp_path):
    write_batch(tmp_path / "b", np.zeros((3, 32, 32, 3), np.uint8), [0, 1])
    with pytest.raises(cifar10.CifarDataError, match="3 images but labels"):
        cifar10.load_batch(tmp_path / "b")


def test_non_dict_pickle_is_reported(tmp_path):
    (tmp_path / "b").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(cifar10.CifarDataError, match="expected a pickled dict"):
        cifar10.load_batch(tmp_path / "b")


def test_resolution_order_flag_env_shared(tmp_path):
    assert cifar10.resolve_data_root("/x", {ingest_settings.DATA_ROOT_ENV: "/y"}).as_posix() == "/x"
    assert cifar10.resolve_data_root(None, {ingest_settings.DATA_ROOT_ENV: "/y"}).as_posix() == "/y"
    if ingest_settings.SHARED_DATA_ROOT.is_dir():
        assert cifar10.resolve_data_root(None, {}) == ingest_settings.SHARED_DATA_ROOT


def test_offline_download_fails_with_instructions(tmp_path):
    with pytest.raises(cifar10.CifarDataError, match="Offline\\?.*--data-root"):
        cifar10.download(tmp_path, url="http://127.0.0.1:9/cifar-10-python.tar.gz")


def test_download_verifies_checksum(tmp_path):
    archive = tmp_path / "src.tar.gz"
    archive.write_bytes(b"not the real archive")
    with pytest.raises(cifar10.CifarDataError, match="checksum"):
        cifar10.download(tmp_path / "cache", url=archive.as_uri())
    assert not any((tmp_path / "cache").glob("*.tar.gz")), "a bad download must not be kept"
