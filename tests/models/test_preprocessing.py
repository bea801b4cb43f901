"""preprocessing_fn under a real tf.Transform run: decoded PNGs scaled to [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features, preprocessing


def test_transform_graph_decodes_and_scales_exactly(transform_output):
    tft_output = tft.TFTransformOutput(transform_output["graph_dir"])
    layer = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    raw_spec.pop(features.LABEL_KEY)
    parsed = tf.io.parse_example(tf.constant(transform_output["serialized"][:5]), raw_spec)
    out = layer(parsed)
    got = out[features.TRANSFORMED_IMAGE_KEY].numpy()
    assert got.shape == (5, *features.IMAGE_SHAPE) and got.dtype == np.float32
    np.testing.assert_allclose(got, transform_output["images"][:5] / 255.0, rtol=1e-6)
    assert features.LABEL_KEY not in out  # serving inputs carry no label


def test_transformed_schema_has_image_and_label(transform_output):
    spec = tft.TFTransformOutput(transform_output["graph_dir"]).transformed_feature_spec()
    assert spec[features.TRANSFORMED_IMAGE_KEY].shape == list(features.IMAGE_SHAPE)
    assert spec[features.LABEL_KEY].dtype == tf.int64


def test_decode_rejects_wrong_image_size():
    small = tf.io.encode_png(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError):
        preprocessing.decode_images(tf.stack([small]))
