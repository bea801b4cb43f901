"""One image file: what its header says, and the bytes stored for it decode in TensorFlow to the
pixels training should see (original bytes where TF reads them alike, a PNG of L or RGB else)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from ingest import images
from ingest.errors import BadImageError

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)


def saved(tmp_path: Path, image: Image.Image, name: str, **options) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def tf_decoded(encoded: bytes, channels: int) -> np.ndarray:
    """What the in-graph decoder makes of stored bytes."""
    return tf.io.decode_image(encoded, channels=channels, expand_animations=False).numpy()


@pytest.mark.parametrize(
    ("mode", "fmt", "name"),
    [
        ("RGB", "PNG", "a.png"),
        ("L", "PNG", "a.png"),
        ("RGB", "JPEG", "a.jpg"),
        ("L", "JPEG", "a.jpg"),
    ],
)
def test_eight_bit_gray_or_rgb_png_and_jpeg_are_stored_as_they_are(tmp_path, mode, fmt, name):
    path = saved(tmp_path, Image.fromarray(RGB).convert(mode), name, format=fmt)
    header = images.probe(path)
    assert (header.width, header.height, header.mode, header.format) == (10, 12, mode, fmt)
    assert header.stored_as_is and header.is_gray == (mode == "L")
    assert images.encoded_bytes(path) == path.read_bytes()


def test_rgba_is_stored_as_rgb_png_with_alpha_dropped(tmp_path):
    rgba = np.dstack([RGB, RNG.integers(0, 256, size=(12, 10), dtype=np.uint8)])
    path = saved(tmp_path, Image.fromarray(rgba, mode="RGBA"), "a.png")
    header = images.probe(path)
    assert not header.stored_as_is and not header.is_gray
    stored = images.encoded_bytes(path)
    assert Image.open(io.BytesIO(stored)).mode == "RGB"
    np.testing.assert_array_equal(tf_decoded(stored, 3), RGB)
    # what serving's decoder does with the RGBA file itself: the same pixels
    np.testing.assert_array_equal(tf_decoded(path.read_bytes(), 3), RGB)


def test_palette_image_is_stored_as_its_rgb_colours(tmp_path):
    palette = Image.fromarray(RGB).quantize(colors=16)
    path = saved(tmp_path, palette, "a.gif")
    stored = images.encoded_bytes(path)
    np.testing.assert_array_equal(tf_decoded(stored, 3), np.asarray(palette.convert("RGB")))


def test_cmyk_jpeg_is_stored_as_rgb(tmp_path):
    path = saved(tmp_path, Image.fromarray(RGB).convert("CMYK"), "a.jpg", format="JPEG")
    header = images.probe(path)
    assert header.mode == "CMYK" and not header.stored_as_is
    stored = images.encoded_bytes(path)
    want = np.asarray(Image.open(path).convert("RGB"))
    np.testing.assert_array_equal(tf_decoded(stored, 3), want)


def test_gray_with_alpha_is_stored_as_gray(tmp_path):
    gray = RGB[..., 0]
    la = Image.fromarray(np.dstack([gray, np.full_like(gray, 9)]), mode="LA")
    path = saved(tmp_path, la, "a.png")
    header = images.probe(path)
    assert header.is_gray and not header.stored_as_is
    np.testing.assert_array_equal(tf_decoded(images.encoded_bytes(path), 1)[..., 0], gray)


def test_sixteen_bit_gray_keeps_its_high_byte_as_tensorflow_does(tmp_path):
    deep = (RNG.integers(0, 65536, size=(12, 10))).astype(np.uint16)
    path = saved(tmp_path, Image.fromarray(deep), "a.png")
    header = images.probe(path)
    assert header.mode.startswith("I") and header.is_gray and not header.stored_as_is
    stored = tf_decoded(images.encoded_bytes(path), 1)[..., 0]
    np.testing.assert_array_equal(stored, (deep >> 8).astype(np.uint8))
    np.testing.assert_array_equal(stored, tf_decoded(path.read_bytes(), 1)[..., 0])


def test_rgb_png_with_a_transparent_colour_is_re_encoded(tmp_path):
    path = saved(tmp_path, Image.fromarray(RGB), "a.png", transparency=(0, 0, 0))
    header = images.probe(path)
    assert header.has_transparency and not header.stored_as_is
    np.testing.assert_array_equal(tf_decoded(images.encoded_bytes(path), 3), RGB)


def test_a_file_that_is_no_image_names_itself(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_text("<html>404 not found</html>")
    with pytest.raises(BadImageError, match=r"photo\.jpg: not a readable image") as error:
        images.probe(path)
    assert error.value.path == path
