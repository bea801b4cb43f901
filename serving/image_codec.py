"""PNG/JPEG bytes <-> uint8 [32, 32, 3] arrays, for clients of the ``serving_image_bytes``
signature and for readers of request payloads (the canary router's drift sample).

PIL rather than TF: clients and the router should not pay for a TensorFlow import to
encode or decode one small image. The model itself decodes in its graph (tf.io).
"""

from __future__ import annotations

import io

import numpy as np


def encode_png(image: np.ndarray) -> bytes:
    """uint8 [H, W, 3] -> lossless PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# What TensorFlow's decode_image (the model's graph) reads, by the files' first bytes.
TF_DECODABLE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def tf_decodable(data: bytes) -> bytes:
    """``data`` as is when the model's graph decodes it (JPEG, PNG, GIF, BMP), else the same
    image re-encoded as PNG (WebP, TIFF, ...: Pillow reads them, TensorFlow does not), by
    the rule ingest stores such files by (``ingest.images``; serving imports no pipeline
    code): gray modes as 8-bit gray (16-bit scaled down, not clipped), the rest as RGB with
    alpha dropped. So a client sends what the model was trained on. Raises ``OSError``
    (Pillow's) for data that is no image."""
    if data.startswith(TF_DECODABLE_SIGNATURES):
        return data
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
            pixels = np.clip(np.asarray(image, dtype=np.int64) >> 8, 0, 255).astype(np.uint8)
            converted = Image.fromarray(pixels, mode="L")
        elif image.mode in ("1", "L", "LA", "La", "F"):
            converted = image.convert("L")
        else:
            converted = image.convert("RGBA" if image.mode in ("P", "PA") else image.mode)
            converted = converted.convert("RGB")
    buffer = io.BytesIO()
    converted.save(buffer, format="PNG")
    return buffer.getvalue()


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 [H, W, 3] (RGB)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
