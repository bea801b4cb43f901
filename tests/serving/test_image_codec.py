"""Client-side image bytes: what the model's graph decodes goes as it is, other formats as
PNG by ingest's rule, so a client sends what the model was trained on."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from serving import image_codec

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP"])
def test_what_tensorflow_decodes_goes_as_it_is(fmt):
    data = encoded(Image.fromarray(RGB), fmt)
    assert image_codec.tf_decodable(data) is data


def test_webp_and_tiff_become_png_with_the_same_pixels():
    for fmt, options in (("WEBP", {"lossless": True}), ("TIFF", {})):
        data = image_codec.tf_decodable(encoded(Image.fromarray(RGB), fmt, **options))
        assert data.startswith(b"\x89PNG")
        np.testing.assert_array_equal(pixels(data), RGB)


def test_gray_stays_gray_16_bit_is_scaled_and_alpha_is_dropped():
    deep = (RNG.integers(0, 65536, (6, 5))).astype(np.uint16)
    data = image_codec.tf_decodable(encoded(Image.fromarray(deep), "TIFF"))
    np.testing.assert_array_equal(pixels(data), (deep >> 8).astype(np.uint8))
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 9, np.uint8)])
    data = image_codec.tf_decodable(encoded(Image.fromarray(rgba), "WEBP", lossless=True))
    np.testing.assert_array_equal(pixels(data), RGB)


def test_what_is_no_image_is_refused():
    with pytest.raises(OSError):
        image_codec.tf_decodable(b"plain text, no image")


def test_the_rule_is_ingests(tmp_path):
    """The bytes a client sends for a WebP or 16-bit TIFF file decode to the pixels ingest
    trained on (serving keeps its own copy of the rule: it imports no pipeline code)."""
    from ingest import images

    deep = (RNG.integers(0, 65536, (6, 5))).astype(np.uint16)
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 200, np.uint8)])
    for name, image, options in (
        ("deep.tif", Image.fromarray(deep), {}),
        ("alpha.webp", Image.fromarray(rgba), {"lossless": True}),
        ("palette.webp", Image.fromarray(RGB).convert("P"), {"lossless": True}),
    ):
        path = tmp_path / name
        image.save(path, **options)
        sent = image_codec.tf_decodable(path.read_bytes())
        np.testing.assert_array_equal(pixels(sent), pixels(images.encoded_bytes(path)), name)
