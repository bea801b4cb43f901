"""The reference CNN and run_fn: architecture per dataset, training on tiny sets, exports."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from PIL import Image

from models import dataset, features, model
from models.hparams import HParams, hparams_config, tuned_values
from tests.models.conftest import GRAY, example, exported_widths, trainer_fn_args


def test_reference_architecture():
    m = model.build_model()
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds == [
        "InputLayer",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Flatten",
        "Dense",
        "Dropout",
        "Dense",
    ]
    convs = [layer.filters for layer in m.layers if kinds[m.layers.index(layer)] == "Conv2D"]
    assert convs == [32, 64, 64]
    assert m.output_shape == (None, 10)
    probs = m(np.zeros((2, 32, 32, 3), np.float32)).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_reference_architecture_is_unchanged_by_the_width_parameters():
    """Defaults of HParams and of build_model are today's CNN: 122,570 weights."""
    assert model.model_from_hparams(HParams()).count_params() == 122_570
    assert model.build_model().count_params() == 122_570


def test_widths_are_parameters():
    m = model.build_model(conv1_filters=16, conv2_filters=32, conv3_filters=128, dense_units=256)
    assert [layer.filters for layer in m.layers if hasattr(layer, "filters")] == [16, 32, 128]
    assert [layer.units for layer in m.layers if hasattr(layer, "units")] == [256, 10]


@pytest.mark.parametrize(
    ("height", "width", "stages"),
    [(32, 32, 2), (28, 28, 2), (16, 16, 1), (8, 8, 0), (64, 64, 3), (224, 224, 5), (24, 96, 1)],
)
def test_pooling_stages_follow_the_shorter_side(height, width, stages):
    assert model.pooling_stages(height, width) == stages
    m = model.build_model(description=GRAY.with_changes(height=height, width=width))
    kinds = [type(layer).__name__ for layer in m.layers]
    assert kinds.count("MaxPooling2D") == stages and kinds.count("Conv2D") == stages + 1
    last_conv = [layer for layer in m.layers if type(layer).__name__ == "Conv2D"][-1]
    assert min(last_conv.output_shape[1:3]) >= model.MIN_FINAL_SIDE


def test_an_input_too_small_for_the_cnn_names_the_way_out():
    with pytest.raises(ValueError, match="at least 5 pixels.*--image-size"):
        model.pooling_stages(4, 32)


def test_conv_widths_keep_first_and_last_and_repeat_the_middle():
    assert model.conv_widths(2, 32, 64, 96) == [32, 64, 96]
    assert model.conv_widths(4, 32, 64, 96) == [32, 64, 64, 64, 96]
    assert model.conv_widths(1, 32, 64, 96) == [32, 96]
    assert model.conv_widths(0, 32, 64, 96) == [32]


def test_the_model_takes_the_description_shape_and_classes():
    m = model.build_model(description=GRAY)
    assert m.input_shape == (None, 24, 20, 1)
    assert m.output_shape == (None, 3)
    probs = m(np.zeros((2, 24, 20, 1), np.float32)).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_hparams_stay_strict_and_validate_widths():
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        HParams.from_custom_config({"conv_filters": 32})
    with_description = {"epochs": 2, dataset.CUSTOM_CONFIG_KEY: GRAY.to_dict()}
    assert hparams_config(with_description) == {"epochs": 2}
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        HParams.from_custom_config(with_description)  # only hparams_config drops the description
    with pytest.raises(ValueError, match="out of range"):
        HParams(dense_units=0)
    assert HParams.from_custom_config({"conv1_filters": 48.0}).conv1_filters == 48


def test_tuned_values_reads_a_keras_tuner_config():
    assert tuned_values(None) == {}
    assert tuned_values({"space": [], "values": {"dense_units": 128}}) == {"dense_units": 128}
    with pytest.raises(ValueError, match="values"):
        tuned_values({"dense_units": 128})


def test_run_fn_trains_and_exports_three_agreeing_signatures(transform_output, tmp_path):
    fn_args = trainer_fn_args(transform_output, tmp_path, {"epochs": 2, "batch_size": 16})
    serving_dir = tmp_path / "serving_model"
    model.run_fn(fn_args)

    assert (serving_dir / "saved_model.pb").is_file()
    assert any((tmp_path / "run").rglob("events.out.tfevents*")), "TensorBoard logs written"
    loaded = tf.saved_model.load(str(serving_dir))
    assert set(loaded.signatures) == {
        features.SIGNATURE_EXAMPLES,
        features.SIGNATURE_BULK_INFERENCE,
        features.SIGNATURE_IMAGES,
        features.SIGNATURE_IMAGE_BYTES,
    }
    images = transform_output["images"][:6]
    by_examples = loaded.signatures[features.SIGNATURE_EXAMPLES](
        examples=tf.constant(transform_output["serialized"][:6])
    )
    by_images = loaded.signatures[features.SIGNATURE_IMAGES](images=tf.constant(images))
    by_bytes = loaded.signatures[features.SIGNATURE_IMAGE_BYTES](
        image_bytes=tf.stack([tf.io.encode_png(i) for i in images])
    )
    bulk = loaded.signatures[features.SIGNATURE_BULK_INFERENCE](
        examples=tf.constant(transform_output["serialized"][:6])
    )
    assert set(bulk) == {features.OUTPUT_PROBABILITIES, features.OUTPUT_CLASS_IDS}  # no strings
    for other in (by_images, by_bytes, bulk):
        np.testing.assert_array_equal(
            by_examples[features.OUTPUT_PROBABILITIES].numpy(),
            other[features.OUTPUT_PROBABILITIES].numpy(),
        )
    ids = by_examples[features.OUTPUT_CLASS_IDS].numpy()
    assert ids.shape == (6,)
    names = [n.decode() for n in by_examples[features.OUTPUT_CLASSES].numpy()]
    assert names == [dataset.CIFAR10.class_names[i] for i in ids]
    assert exported_widths(serving_dir) == {
        "conv1_filters": 32,
        "conv2_filters": 64,
        "conv3_filters": 64,
        "dense_units": 64,
        "classes": 10,
    }
    assert dataset.from_model(serving_dir) == dataset.CIFAR10  # exported with the model
    assert dataset.exported_description_path(serving_dir).is_file()


def test_run_fn_applies_tuned_values_over_custom_config(transform_output, tmp_path):
    """The Tuner's best values win over custom_config; the rest of custom_config still holds."""
    tuned = {
        "space": [],
        "values": {
            "learning_rate": 5e-4,
            "dropout_rate": 0.2,
            "conv1_filters": 16,
            "conv2_filters": 96,
            "conv3_filters": 32,
            "dense_units": 128,
        },
    }
    fn_args = trainer_fn_args(
        transform_output,
        tmp_path,
        {"epochs": 1, "batch_size": 16, "conv1_filters": 64},
        hyperparameters=tuned,
    )
    model.run_fn(fn_args)
    assert exported_widths(tmp_path / "serving_model") == {
        "conv1_filters": 16,
        "conv2_filters": 96,
        "conv3_filters": 32,
        "dense_units": 128,
        "classes": 10,
    }


def test_run_fn_rejects_an_unknown_tuned_name(transform_output, tmp_path):
    fn_args = trainer_fn_args(
        transform_output,
        tmp_path,
        {"epochs": 1},
        hyperparameters={"space": [], "values": {"units": 128}},
    )
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        model.run_fn(fn_args)


def jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def test_run_fn_trains_and_exports_for_the_description(gray_transform_output, tmp_path):
    """A gray 24x20 dataset of 3 named classes: its shape, names and description are exported."""
    custom_config = {"epochs": 1, "batch_size": 16, dataset.CUSTOM_CONFIG_KEY: GRAY.to_dict()}
    model.run_fn(trainer_fn_args(gray_transform_output, tmp_path, custom_config))
    serving_dir = tmp_path / "serving_model"

    assert dataset.from_model(serving_dir) == GRAY
    exported = json.loads(dataset.exported_description_path(serving_dir).read_text())
    assert exported["class_names"] == ["cat", "dog", "horse"]
    loaded = tf.saved_model.load(str(serving_dir))
    images_input = loaded.signatures[features.SIGNATURE_IMAGES].structured_input_signature[1]
    assert images_input[features.INPUT_IMAGES].shape.as_list() == [None, 24, 20, 1]
    assert images_input[features.INPUT_IMAGES].dtype == tf.uint8

    rng = np.random.default_rng(5)
    gray = rng.integers(0, 256, (4, 24, 20, 1), np.uint8)
    by_images = loaded.signatures[features.SIGNATURE_IMAGES](images=tf.constant(gray))
    by_png = loaded.signatures[features.SIGNATURE_IMAGE_BYTES](
        image_bytes=tf.stack([tf.io.encode_png(i) for i in gray])
    )
    np.testing.assert_array_equal(
        by_images[features.OUTPUT_PROBABILITIES].numpy(),
        by_png[features.OUTPUT_PROBABILITIES].numpy(),
    )
    # Any size and format, colour too, through serving_image_bytes and serving_default.
    colour = rng.integers(0, 256, (2, 70, 45, 3), np.uint8)
    encoded = [jpeg(i) for i in colour]
    by_bytes = loaded.signatures[features.SIGNATURE_IMAGE_BYTES](image_bytes=tf.constant(encoded))
    by_examples = loaded.signatures[features.SIGNATURE_EXAMPLES](
        examples=tf.constant([example(e, 0) for e in encoded])
    )
    np.testing.assert_allclose(
        by_bytes[features.OUTPUT_PROBABILITIES].numpy(),
        by_examples[features.OUTPUT_PROBABILITIES].numpy(),
        rtol=1e-6,
    )
    assert by_bytes[features.OUTPUT_PROBABILITIES].shape == (2, 3)
    ids = by_bytes[features.OUTPUT_CLASS_IDS].numpy()
    names = [n.decode() for n in by_bytes[features.OUTPUT_CLASSES].numpy()]
    assert names == [GRAY.class_names[i] for i in ids]
    # A decompression bomb is refused from its header by both signatures that take bytes.
    from tests.ingest.test_bad_input import png_bomb

    bomb = png_bomb(30_000, 30_000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 40000000 pixels"):
        loaded.signatures[features.SIGNATURE_IMAGE_BYTES](image_bytes=tf.constant([bomb]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 40000000 pixels"):
        loaded.signatures[features.SIGNATURE_EXAMPLES](examples=tf.constant([example(bomb, 0)]))


def test_run_fn_refuses_a_description_that_is_not_the_transforms(transform_output, tmp_path):
    custom_config = {"epochs": 1, dataset.CUSTOM_CONFIG_KEY: GRAY.to_dict()}
    with pytest.raises(ValueError, match=r"shape \(32, 32, 3\).*\(24, 20, 1\)"):
        model.run_fn(trainer_fn_args(transform_output, tmp_path, custom_config))


def test_a_dataset_too_large_to_cache_streams_with_a_bounded_shuffle(
    gray_transform_output, tmp_path, monkeypatch
):
    """Above the budget, decoded images are not cached and the shuffle buffer is bounded."""
    image_bytes = 24 * 20 * 1 * 4
    monkeypatch.setattr(model, "DECODED_CACHE_BUDGET_BYTES", 10 * image_bytes)
    assert model.decoded_bytes(GRAY) == 48 * image_bytes
    fn_args = trainer_fn_args(
        gray_transform_output, tmp_path, {dataset.CUSTOM_CONFIG_KEY: GRAY.to_dict()}
    )
    data = model.TrainingData(fn_args, tft.TFTransformOutput(fn_args.transform_output), GRAY)
    assert data.shuffle_buffer == 10
    assert "CacheDataset" not in type(data.train).__name__
    train, evaluation = data.batched(HParams(batch_size=8))
    labels = np.concatenate([y.numpy() for _, y in train])
    assert len(labels) == 40 and set(labels) <= {0, 1, 2}
    assert sum(len(y) for _, y in evaluation) == 8
