"""The reference CNN and run_fn: architecture, training on a tiny set, exported signatures."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models import features, model
from models.hparams import HParams, tuned_values
from tests.models.conftest import exported_widths, trainer_fn_args


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
    assert m.output_shape == (None, features.NUM_CLASSES)
    probs = m(np.zeros((2, *features.IMAGE_SHAPE), np.float32)).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_reference_architecture_is_unchanged_by_the_width_parameters():
    """Defaults of HParams and of build_model are today's CNN: 122,570 weights."""
    assert model.model_from_hparams(HParams()).count_params() == 122_570
    assert model.build_model().count_params() == 122_570


def test_widths_are_parameters():
    m = model.build_model(conv1_filters=16, conv2_filters=32, conv3_filters=128, dense_units=256)
    assert [layer.filters for layer in m.layers if hasattr(layer, "filters")] == [16, 32, 128]
    assert [layer.units for layer in m.layers if hasattr(layer, "units")] == [256, 10]


def test_hparams_stay_strict_and_validate_widths():
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        HParams.from_custom_config({"conv_filters": 32})
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
    for other in (by_images, by_bytes):
        np.testing.assert_array_equal(
            by_examples[features.OUTPUT_PROBABILITIES].numpy(),
            other[features.OUTPUT_PROBABILITIES].numpy(),
        )
    ids = by_examples[features.OUTPUT_CLASS_IDS].numpy()
    assert ids.shape == (6,)
    names = [n.decode() for n in by_examples[features.OUTPUT_CLASSES].numpy()]
    assert names == [features.LABEL_NAMES[i] for i in ids]
    assert exported_widths(serving_dir) == {
        "conv1_filters": 32,
        "conv2_filters": 64,
        "conv3_filters": 64,
        "dense_units": 64,
        "classes": features.NUM_CLASSES,
    }


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
        "classes": features.NUM_CLASSES,
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
