"""Input spans: TFRecord content, deterministic splits, atomic writes and span reuse."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from ingest import cifar10, spans
from ingest import settings as ingest_settings
from models import features
from tests.cifar_fixtures import write_cifar_layout


def read_split(directory):
    """Every record of a split's shards, in shard order."""
    spec = {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    out = []
    files = sorted(str(p) for p in directory.glob("data-*-of-*.tfrecord"))
    for record in tf.data.TFRecordDataset(files):
        parsed = tf.io.parse_single_example(record, spec)
        out.append(
            (tf.io.decode_png(parsed[features.IMAGE_KEY]).numpy(), int(parsed[features.LABEL_KEY]))
        )
    return out


def test_span_holds_lossless_png_examples_for_all_splits(tmp_path):
    root = write_cifar_layout(tmp_path / "data", per_batch=10, n_test=7)
    info = spans.prepare_span(root, tmp_path / "ex", eval_fraction=0.2, seed=1)
    assert info.span == 1 and not info.reused
    assert info.counts == {"train": 40, "eval": 10, "test": 7}
    test = cifar10.load_test(root)
    records = read_split(info.path / ingest_settings.TEST_SPLIT)
    assert len(records) == 7
    for (image, label), want_image, want_label in zip(
        records, test.images, test.labels, strict=True
    ):
        np.testing.assert_array_equal(image, want_image)
        assert label == want_label
    # train + eval together are exactly the training batches
    train_all = cifar10.load_train(root)
    got = read_split(info.path / "train") + read_split(info.path / "eval")
    assert sorted(img.tobytes() for img, _ in got) == sorted(
        img.tobytes() for img in train_all.images
    )


def test_large_splits_are_sharded_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(spans, "SHARD_RECORDS", 3)
    root = write_cifar_layout(tmp_path / "data", per_batch=2, n_test=7)
    info = spans.prepare_span(root, tmp_path / "ex")
    names = sorted(p.name for p in (info.path / ingest_settings.TEST_SPLIT).iterdir())
    assert names == [f"data-0000{i}-of-00003.tfrecord" for i in range(3)]
    got = read_split(info.path / ingest_settings.TEST_SPLIT)
    want = cifar10.load_test(root)
    assert [label for _, label in got] == list(want.labels)


def test_unchanged_data_reuses_span_and_changed_data_adds_one(tmp_path):
    root = write_cifar_layout(tmp_path / "data", per_batch=4, n_test=4)
    first = spans.prepare_span(root, tmp_path / "ex")
    again = spans.prepare_span(root, tmp_path / "ex")
    assert again.reused and again.span == first.span
    write_cifar_layout(root, per_batch=4, n_test=4, seed=99)  # new data arrives
    newer = spans.prepare_span(root, tmp_path / "ex")
    assert newer.span == 2 and not newer.reused
    forced = spans.prepare_span(root, tmp_path / "ex", force_new=True)
    assert forced.span == 3
    assert spans.existing_spans(tmp_path / "ex") == [1, 2, 3]
    manifest = json.loads((forced.path / ingest_settings.SPAN_MANIFEST).read_text())
    assert manifest["counts"] == forced.counts


def test_split_is_deterministic(tmp_path):
    root = write_cifar_layout(tmp_path / "data", per_batch=10, n_test=2)
    batch = cifar10.load_train(root)
    a_train, a_eval = spans.split_train_eval(batch, 0.1, seed=5)
    b_train, b_eval = spans.split_train_eval(batch, 0.1, seed=5)
    np.testing.assert_array_equal(a_eval.images, b_eval.images)
    assert len(a_eval) == 5 and len(a_train) == 45


def test_empty_split_is_an_error_and_leaves_no_span(tmp_path):
    root = write_cifar_layout(tmp_path / "data", per_batch=1, n_test=1)
    with pytest.raises(cifar10.CifarDataError, match="eval would be empty"):
        spans.prepare_span(root, tmp_path / "ex", eval_fraction=0.01)
    assert spans.existing_spans(tmp_path / "ex") == []


def test_failed_write_leaves_no_partial_span(tmp_path, monkeypatch):
    root = write_cifar_layout(tmp_path / "data", per_batch=4, n_test=4)
    calls = {"n": 0}
    real = spans.write_split

    def flaky(batch, path, reporter=None):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(batch, path, reporter)

    monkeypatch.setattr(spans, "write_split", flaky)
    with pytest.raises(OSError, match="disk full"):
        spans.prepare_span(root, tmp_path / "ex")
    assert list((tmp_path / "ex").iterdir()) == []


def test_out_of_range_labels_are_written_and_counted_but_not_named(tmp_path):
    """The schema (ExampleValidator) reports ids outside the classes; ingest keeps them."""
    root = write_cifar_layout(tmp_path / "data", per_batch=4, n_test=4, labels=[0, 10, 1, 12])
    info = spans.prepare_span(root, tmp_path / "ex", eval_fraction=0.25)
    assert info.counts == {"train": 15, "eval": 5, "test": 4}
    assert info.description.counts["test"]["airplane"] == 1
    assert sum(info.description.counts["test"].values()) == 2  # ids 10 and 12 have no name
    assert sorted(label for _, label in read_split(info.path / "test")) == [0, 1, 10, 12]


def test_cifar_progress_is_reported_every_n_images(tmp_path, monkeypatch):
    monkeypatch.setattr(ingest_settings, "PROGRESS_EVERY", 40)
    root = write_cifar_layout(tmp_path / "data", per_batch=20, n_test=10)
    seen = []
    spans.prepare_span(root, tmp_path / "ex", progress=seen.append)
    assert [(p.done, p.total) for p in seen] == [(40, 110), (80, 110), (110, 110)]
