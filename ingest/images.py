"""One image file: read its header, validate it, and produce the bytes a TFRecord stores.

Two steps, so a folder of 20,000 images is checked from headers alone (:func:`probe`: size and
mode, a few hundred bytes read, decompression bombs refused before anything is decoded) and each
image is decoded once, when it is written (:func:`load`).

What is stored is what TensorFlow's in-graph decoder (Transform and the serving signatures)
reads the same way Pillow does: the file's own bytes for 8-bit grayscale or RGB PNG and JPEG,
otherwise a PNG re-encoding of the image converted to L or RGB. Alpha is dropped (not composited),
as ``tf.io.decode_image(..., channels=3)`` does for an RGBA file sent to the model server, and
16-bit samples keep their high byte, as TensorFlow's PNG decoder does, so training sees what
serving will see. Nothing is resized here: the graph resizes, in training and serving alike.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ingest import settings
from ingest.errors import BadImageError, ImageTooLargeError

# Modes whose pixels are one gray value: such images can train a 1-channel model.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
_STORED_AS_IS_FORMATS = frozenset({"PNG", "JPEG"})
_STORED_AS_IS_MODES = frozenset({"L", "RGB"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says: enough to plan a dataset without decoding it."""

    width: int
    height: int
    mode: str  # Pillow's mode: L, RGB, RGBA, P, CMYK, I;16, ...
    format: str  # Pillow's format: PNG, JPEG, GIF, ...
    has_transparency: bool = False  # e.g. a PNG tRNS chunk on an RGB or L image

    @property
    def is_gray(self) -> bool:
        return self.mode in GRAY_MODES

    @property
    def stored_as_is(self) -> bool:
        """True when TensorFlow decodes the file's own bytes to the same pixels as Pillow."""
        return (
            self.format in _STORED_AS_IS_FORMATS
            and self.mode in _STORED_AS_IS_MODES
            and not self.has_transparency
        )


def probe(path: Path, max_pixels: int = settings.MAX_IMAGE_PIXELS) -> ImageHeader:
    """The header of ``path`` (a few hundred bytes read); :class:`BadImageError` when it is no
    image Pillow reads, :class:`ImageTooLargeError` when it announces more than ``max_pixels``
    pixels."""
    try:
        with _opened(path, path) as image:
            return _header(path, image, max_pixels)
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise BadImageError(path, f"not a readable image ({type(e).__name__}: {e})") from e


@dataclass(frozen=True)
class LoadedImage:
    header: ImageHeader
    encoded: bytes  # what the TFRecord stores


def load(path: Path, max_pixels: int = settings.MAX_IMAGE_PIXELS) -> LoadedImage:
    """Read, check and fully decode ``path`` (so a corrupt or truncated file raises
    :class:`BadImageError` now rather than in a TFX worker later); the bytes to store."""
    try:
        data = Path(path).read_bytes()
        with _opened(path, io.BytesIO(data)) as image:
            header = _header(path, image, max_pixels)  # refused before decoding
            image.load()  # full decode: truncated or corrupt data raises here
            encoded = data if header.stored_as_is else _png(_to_l_or_rgb(image))
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise BadImageError(path, f"corrupt or truncated image ({type(e).__name__}: {e})") from e
    return LoadedImage(header, encoded)


def encoded_bytes(path: Path) -> bytes:
    """The bytes a TFRecord stores for ``path`` (see :func:`load`)."""
    return load(path).encoded


@contextmanager
def _opened(path: Path, source: Path | io.BytesIO) -> Iterator[Image.Image]:
    """Pillow's lazy open (header only), its own bomb check turned into ours."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                yield image
    except Image.DecompressionBombError as e:  # far beyond our limit: Pillow stops first
        raise ImageTooLargeError(path, f"refused: {e} {_limit(settings.MAX_IMAGE_PIXELS)}") from e


def _header(path: Path, image: Image.Image, max_pixels: int) -> ImageHeader:
    header = ImageHeader(
        width=image.width,
        height=image.height,
        mode=image.mode,
        format=image.format or "",
        has_transparency="transparency" in image.info,
    )
    if header.width * header.height > max_pixels:
        raise ImageTooLargeError(
            path,
            f"refused: {header.width}x{header.height} is {header.width * header.height:,} "
            "pixels, a decompression bomb or far more than a classifier needs. "
            + _limit(max_pixels),
        )
    return header


def _limit(max_pixels: int) -> str:
    return f"(the limit is {max_pixels:,} pixels: ingest.settings.MAX_IMAGE_PIXELS)"


def _to_l_or_rgb(image: Image.Image) -> Image.Image:
    """The image as 8-bit L (gray modes) or RGB (everything else), alpha dropped."""
    if image.mode in _SIXTEEN_BIT_MODES:
        pixels = np.asarray(image, dtype=np.int64)
        return Image.fromarray(np.clip(pixels >> 8, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "F":
        pixels = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
    if image.mode in GRAY_MODES:
        return image.convert("L")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    return image.convert("RGB")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # fast: the span is rewritten rarely
    return out.getvalue()
