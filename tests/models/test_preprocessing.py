"""preprocessing_fn under a real tf.Transform run: any image -> the description's shape."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import dataset, features, preprocessing
from tests.models.conftest import GRAY, encode


def transform_layer_outputs(graph_dir: str, serialized: list[bytes]) -> dict[str, tf.Tensor]:
    """The Transform graph applied as serving applies it: parsed raw features, no label."""
    tft_output = tft.TFTransformOutput(graph_dir)
    raw_spec = tft_output.raw_feature_spec()
    raw_spec.pop(features.LABEL_KEY)
    parsed = tf.io.parse_example(tf.constant(serialized), raw_spec)
    return tft_output.transform_features_layer()(parsed)


def decode(image: np.ndarray, image_format: str, description: dataset.DatasetDescription):
    return preprocessing.decode_images(tf.constant([encode(image, image_format)]), description)[
        0
    ].numpy()


def test_transform_graph_decodes_and_scales_cifar_exactly(transform_output):
    """Without a description (CIFAR-10), images at the model's size are only scaled."""
    out = transform_layer_outputs(transform_output["graph_dir"], transform_output["serialized"][:5])
    got = out[features.TRANSFORMED_IMAGE_KEY].numpy()
    assert got.shape == (5, 32, 32, 3) and got.dtype == np.float32
    np.testing.assert_allclose(got, transform_output["images"][:5] / 255.0, rtol=1e-6)
    assert features.LABEL_KEY not in out  # serving inputs carry no label


def test_transformed_schema_follows_the_description(transform_output, gray_transform_output):
    cifar = tft.TFTransformOutput(transform_output["graph_dir"]).transformed_feature_spec()
    assert cifar[features.TRANSFORMED_IMAGE_KEY].shape == [32, 32, 3]
    assert cifar[features.LABEL_KEY].dtype == tf.int64
    gray = tft.TFTransformOutput(gray_transform_output["graph_dir"]).transformed_feature_spec()
    assert gray[features.TRANSFORMED_IMAGE_KEY].shape == [24, 20, 1]


def test_transform_graph_takes_mixed_sizes_and_formats(gray_transform_output):
    """PNG/JPEG/GIF/BMP, gray and colour, 8..63 pixels a side: all become [24, 20, 1]."""
    out = transform_layer_outputs(
        gray_transform_output["graph_dir"], gray_transform_output["serialized"]
    )
    got = out[features.TRANSFORMED_IMAGE_KEY].numpy()
    assert got.shape == (48, 24, 20, 1)
    assert got.min() >= 0.0 and got.max() <= 1.0
    assert np.ptp(got, axis=(1, 2, 3)).min() > 0.1  # random pixels survived: not blank


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP"])
@pytest.mark.parametrize("stored_channels", [1, 3])
@pytest.mark.parametrize("channels", [1, 3])
def test_every_format_decodes_to_the_description_channels(image_format, stored_channels, channels):
    """A flat colour stays that colour (gray: its luminance) through decode and resize."""
    rgb = np.array([200, 100, 50], np.uint8)
    luminance = 0.2989 * 200 + 0.587 * 100 + 0.114 * 50
    if stored_channels == 1:
        image = np.full((40, 50, 1), 120, np.uint8)
        expected = np.full(channels, 120.0)
    else:
        image = np.broadcast_to(rgb, (40, 50, 3)).copy()
        expected = rgb.astype(float) if channels == 3 else np.array([luminance])
    description = GRAY.with_changes(channels=channels)
    got = decode(image, image_format, description)
    assert got.shape == (24, 20, channels)
    # JPEG's chroma subsampling and GIF's palette move a flat colour by a few levels.
    tolerance = 1.5 if image_format in ("PNG", "BMP") else 8.0
    np.testing.assert_allclose(got * 255.0, np.broadcast_to(expected, got.shape), atol=tolerance)


def test_rgba_palette_gray_alpha_and_16_bit_pngs_are_converted():
    import io

    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (30, 30, 3), np.uint8)
    source = Image.fromarray(pixels)
    for mode in ("RGBA", "P", "LA", "I;16"):
        buffer = io.BytesIO()
        base = source.convert("L") if mode in ("LA", "I;16") else source
        base.convert(mode).save(buffer, "PNG")
        for channels in (1, 3):
            out = preprocessing.decode_images(
                tf.constant([buffer.getvalue()]), GRAY.with_changes(channels=channels)
            )
            assert out.shape == (1, 24, 20, channels), (mode, channels)


def test_a_gray_image_at_the_model_size_round_trips_exactly():
    gray = np.random.default_rng(3).integers(0, 256, (24, 20, 1), np.uint8)
    np.testing.assert_array_equal(decode(gray, "PNG", GRAY), gray / np.float32(255.0))


def test_resize_downscales_without_losing_the_picture():
    """Left half black, right half white at 96x80 -> 24x20: the halves stay where they were."""
    image = np.zeros((96, 80, 3), np.uint8)
    image[:, 40:] = 255
    got = decode(image, "PNG", GRAY.with_changes(channels=3))
    np.testing.assert_allclose(got[:, :9], 0.0, atol=1e-6)
    np.testing.assert_allclose(got[:, 11:], 1.0, atol=1e-6)
    assert 0.0 < got[:, 9:11].mean() < 1.0


def test_a_smaller_image_is_upscaled_to_the_model_size():
    small = np.full((16, 16, 3), 255, np.uint8)
    got = decode(small, "PNG", dataset.CIFAR10)
    assert got.shape == (32, 32, 3)
    np.testing.assert_allclose(got, 1.0, atol=1e-6)


def test_bytes_that_are_not_an_image_fail_with_tensorflows_error():
    with pytest.raises(tf.errors.InvalidArgumentError):
        preprocessing.decode_images(tf.constant([b"not an image"]))


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP"])
def test_the_header_size_is_read_for_every_format(image_format):
    image = np.zeros((37, 53, 3), np.uint8)
    data = tf.constant(encode(image, image_format))
    pixels, is_jpeg = preprocessing._announced_pixels(tf.stack([data]))
    if image_format == "JPEG":
        assert is_jpeg.numpy().tolist() == [True] and pixels.numpy().tolist() == [0]
        pixels = preprocessing._jpeg_pixels(data, is_jpeg[0])[tf.newaxis]
    assert pixels.numpy().tolist() == [37 * 53]


def test_a_decompression_bomb_is_refused_before_decoding():
    """A valid 30,000 x 30,000 PNG (900 MB decoded) fails at once with a clear message."""
    from tests.ingest.test_bad_input import png_bomb

    bomb = png_bomb(30_000, 30_000)
    assert len(bomb) < 2_000_000
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 40000000 pixels"):
        preprocessing.refuse_oversized(tf.constant([b"fine", bomb]))
    pixels, is_jpeg = preprocessing._announced_pixels(tf.constant([b"short", b""]))
    assert pixels.numpy().tolist() == [0, 0] and not is_jpeg.numpy().any()
