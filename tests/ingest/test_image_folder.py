"""Image folders into spans: layouts, splits, the description, shapes, span reuse, progress."""

from __future__ import annotations

import os
import shutil
from collections import Counter

import pytest
import tensorflow as tf

from ingest import settings, spans
from ingest.errors import DataError, ImageSizeError, LayoutError
from ingest.folder_plan import plan_folder
from ingest.layout import detect_layout
from models import features
from models.dataset import DatasetDescription
from tests.cifar_fixtures import write_cifar_layout
from tests.image_folder_fixtures import write_image_folder

CLASSES = ("airplane", "cat", "ship")


def read_records(split_dir):
    """(encoded image bytes, label) of every record of a split, in shard order."""
    spec = {
        features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
        features.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
    }
    files = sorted(str(p) for p in split_dir.glob("data-*-of-*.tfrecord"))
    out = []
    for record in tf.data.TFRecordDataset(files):
        parsed = tf.io.parse_single_example(record, spec)
        out.append((parsed[features.IMAGE_KEY].numpy(), int(parsed[features.LABEL_KEY])))
    return out


def files_by_bytes(root):
    """encoded bytes -> class folder name, for every image under ``root``."""
    return {p.read_bytes(): p.parent.name for p in root.rglob("*") if p.is_file()}


def test_image_folder_becomes_a_described_span_of_the_original_files(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=20)
    info = spans.prepare_span(root, tmp_path / "ex")

    description = DatasetDescription.load(info.path)
    assert description == info.description
    assert description.class_names == CLASSES  # sorted folder names
    assert description.image_shape == (32, 32, 3)
    assert description.source["layout"] == settings.LAYOUT_IMAGE_FOLDER
    # every class is carved 4 test / 2 eval / 14 train (20% test, 10% of the rest eval)
    for split, want in (("train", 14), ("eval", 2), ("test", 4)):
        assert description.counts[split] == dict.fromkeys(CLASSES, want)
        assert info.counts[split] == 3 * want
    # each record is a file's own bytes (8-bit RGB JPEG) with its folder's class id
    originals = files_by_bytes(root)
    seen = []
    for split in ("train", "eval", "test"):
        for encoded, label in read_records(info.path / split):
            assert CLASSES[label] == originals[encoded]
            seen.append(encoded)
    assert sorted(seen) == sorted(originals)


def test_split_folders_keep_their_test_split_and_carve_eval_from_train(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=10, test_per_class=3)
    assert detect_layout(root) == settings.LAYOUT_SPLIT_FOLDERS
    info = spans.prepare_span(root, tmp_path / "ex")
    assert info.description.counts["test"] == dict.fromkeys(CLASSES, 3)
    assert info.description.counts["eval"] == dict.fromkeys(CLASSES, 1)
    assert info.description.counts["train"] == dict.fromkeys(CLASSES, 9)
    test_files = files_by_bytes(root / "test")
    assert {encoded for encoded, _ in read_records(info.path / "test")} == set(test_files)


def test_an_eval_folder_named_val_is_the_eval_split(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=6, test_per_class=2)
    shutil.copytree(root / "test", root / "val")
    info = spans.prepare_span(root, tmp_path / "ex", layout=settings.LAYOUT_SPLIT_FOLDERS)
    assert info.description.counts["eval"] == dict.fromkeys(CLASSES, 2)
    assert info.description.counts["train"] == dict.fromkeys(CLASSES, 6)  # nothing carved


def test_gray_images_of_another_size_make_a_one_channel_input(tmp_path):
    root = write_image_folder(
        tmp_path / "gray", CLASSES, per_class=6, sizes=[(48, 40)], gray=True, image_format="PNG"
    )
    description = spans.prepare_span(root, tmp_path / "ex").description
    assert description.image_shape == (48, 40, 1)
    forced = spans.prepare_span(root, tmp_path / "ex3", channels=3).description
    assert forced.image_shape == (48, 40, 3)


def test_mixed_sizes_need_image_size_and_are_not_resized_at_ingest(tmp_path):
    root = write_image_folder(tmp_path / "mixed", CLASSES, per_class=6, sizes=[(32, 32), (64, 48)])
    with pytest.raises(ImageSizeError, match=r"image_size.*--image-size") as error:
        spans.prepare_span(root, tmp_path / "ex")
    assert "32x32" in str(error.value) and "48x64" in str(error.value)  # width x height
    assert spans.existing_spans(tmp_path / "ex") == []

    info = spans.prepare_span(root, tmp_path / "ex", image_size=(40, 36))
    assert info.description.image_shape == (40, 36, 3)
    originals = files_by_bytes(root)
    records = read_records(info.path / "train")
    assert records and all(encoded in originals for encoded, _ in records)


def test_unchanged_folder_reuses_its_span_and_any_edit_makes_a_new_one(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=6)
    first = spans.prepare_span(root, tmp_path / "ex")
    again = spans.prepare_span(root, tmp_path / "ex")
    assert again.reused and again.span == first.span and again.description == first.description

    edited = next((root / "cat").iterdir())
    stat = edited.stat()
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # re-saved
    assert spans.prepare_span(root, tmp_path / "ex").span == 2

    shutil.copy(edited, root / "cat" / "new.jpg")  # an image added
    added = spans.prepare_span(root, tmp_path / "ex")
    assert added.span == 3 and added.description.counts["train"]["cat"] >= 4
    assert spans.prepare_span(root, tmp_path / "ex", image_size=(16, 16)).span == 4


def test_cifar_span_is_described_with_batches_meta_names(tmp_path):
    root = write_cifar_layout(tmp_path / "cifar", per_batch=10, n_test=5)
    assert detect_layout(root) == settings.LAYOUT_CIFAR10
    info = spans.prepare_span(root, tmp_path / "ex")
    description = DatasetDescription.load(info.path)
    assert description.image_shape == (32, 32, 3) and len(description.class_names) == 10
    assert description.class_names[0] == "airplane"
    assert description.source["kind"] == "cifar10"
    assert sum(description.counts["test"].values()) == 5
    assert {s: sum(c.values()) for s, c in description.counts.items()} == info.counts


def test_split_assignment_is_stable_when_images_are_added_or_the_folder_moves(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=40)
    before = {i.relative: i.split for i in plan_folder(root, "image_folder").images}
    assert before == {i.relative: i.split for i in plan_folder(root, "image_folder").images}
    for name in CLASSES:
        for i in range(4):
            shutil.copy(next((root / name).iterdir()), root / name / f"added_{i}.jpg")
    after = {i.relative: i.split for i in plan_folder(root, "image_folder").images}
    moved = Counter(path.split("/")[0] for path in before if after[path] != before[path])
    assert all(moved[name] <= 2 * 4 for name in CLASSES), moved  # at most two per image added

    moved_root = shutil.move(root, tmp_path / "elsewhere")
    assert {i.relative: i.split for i in plan_folder(moved_root, "image_folder").images} == after


def test_limit_caps_training_and_test_images(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=20)
    info = spans.prepare_span(root, tmp_path / "ex", limit=30)
    assert info.counts["train"] + info.counts["eval"] == 30
    assert info.counts["test"] == 12  # fewer test images than the limit


def test_progress_is_reported_every_n_images(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "PROGRESS_EVERY", 10)
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=9)
    seen = []
    spans.prepare_span(root, tmp_path / "ex", progress=seen.append)
    writing = [(p.done, p.total) for p in seen if p.stage == "writing examples"]
    assert writing == [(10, 27), (20, 27), (27, 27)]
    assert [str(p) for p in seen][-1] == "writing examples: 27/27"


def test_layout_can_be_named_and_is_then_checked(tmp_path):
    root = write_image_folder(tmp_path / "photos", CLASSES, per_class=4)
    with pytest.raises(LayoutError, match="split folders need train/ and test/"):
        spans.prepare_span(root, tmp_path / "ex", layout=settings.LAYOUT_SPLIT_FOLDERS)
    with pytest.raises(LayoutError, match="unknown layout 'folders'"):
        spans.prepare_span(root, tmp_path / "ex", layout="folders")
    with pytest.raises(DataError, match="data_batch_1"):
        spans.prepare_span(root, tmp_path / "ex", layout=settings.LAYOUT_CIFAR10)


def test_every_stored_image_decodes_in_the_models_graph_to_the_described_shape(tmp_path):
    """What ingest stores is what Transform reads: mixed formats, modes and sizes all decode
    to the description's [H, W, C]."""
    from PIL import Image

    from models.preprocessing import decode_images

    root = write_image_folder(tmp_path / "mixed", CLASSES, per_class=5, sizes=[(32, 32), (40, 24)])
    for i, image in enumerate(sorted((root / "cat").iterdir())[:3]):
        mode = ("RGBA", "P", "L")[i]
        Image.open(image).convert(mode).save(image.with_suffix(".png"))
        image.unlink()
    info = spans.prepare_span(root, tmp_path / "ex", image_size=(24, 20))
    encoded = [e for split in ("train", "eval", "test") for e, _ in read_records(info.path / split)]
    decoded = decode_images(tf.constant(encoded), info.description)
    assert decoded.shape == (15, 24, 20, 3)
    gray = spans.prepare_span(root, tmp_path / "ex-gray", image_size=(24, 20), channels=1)
    assert decode_images(tf.constant(encoded), gray.description).shape == (15, 24, 20, 1)
