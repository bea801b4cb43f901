"""Unlabelled images to score: every image under the folder as a tf.Example with its relative
path; corrupt files listed, never fatal; an unchanged folder reused."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from ingest import walk
from ingest.errors import DataError
from ingest.inference import prepare_inference_examples
from models import features
from tests.image_folder_fixtures import write_image_folder


def read_examples(directory):
    spec = {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.IMAGE_PATH_KEY: tf.io.FixedLenFeature([], tf.string),
    }
    files = sorted(str(p) for p in directory.glob("data-*-of-*.tfrecord"))
    return {
        parsed[features.IMAGE_PATH_KEY].numpy().decode(): parsed[features.IMAGE_KEY].numpy()
        for parsed in (tf.io.parse_single_example(r, spec) for r in tf.data.TFRecordDataset(files))
    }


def test_every_image_becomes_an_example_named_by_its_path(tmp_path):
    folder = write_image_folder(tmp_path / "new photos", ("cat", "ship"), per_class=3)
    (folder / "cat" / "broken.jpg").write_bytes(b"not an image")
    (folder / "notes.txt").write_text("to sort")
    (folder / ".hidden.jpg").write_bytes(b"x")
    seen = []
    result = prepare_inference_examples(folder, tmp_path / "infer", progress=seen.append)

    assert result.count == 6 and not result.reused
    assert [s.path for s in result.bad_images] == ["cat/broken.jpg"]
    assert {(s.path, s.reason) for s in result.ignored} == {
        ("notes.txt", walk.NOT_AN_IMAGE),
        (".hidden.jpg", walk.HIDDEN),
    }
    examples = read_examples(result.path)
    want = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*_*.jpg")}
    assert examples == want
    assert seen[-1].done == seen[-1].total == 7


def test_an_unchanged_folder_is_reused_and_a_changed_one_replaced(tmp_path):
    folder = write_image_folder(tmp_path / "new", ("cat", "ship"), per_class=2)
    first = prepare_inference_examples(folder, tmp_path / "infer")
    again = prepare_inference_examples(folder, tmp_path / "infer")
    assert again.reused and again.count == first.count == 4
    os.remove(next((folder / "cat").iterdir()))
    changed = prepare_inference_examples(folder, tmp_path / "infer")
    assert not changed.reused and len(read_examples(changed.path)) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["infer", "new"]  # nothing left over


def test_a_missing_or_imageless_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_inference_examples(tmp_path / "nope", tmp_path / "infer")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"junk holds no usable image \(1 bad"):
        prepare_inference_examples(tmp_path / "junk", tmp_path / "infer")
    assert not (tmp_path / "infer").exists()
