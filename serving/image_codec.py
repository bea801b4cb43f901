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


def decode_image(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 [H, W, 3] (RGB)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.uint8)
