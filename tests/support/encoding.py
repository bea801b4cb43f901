"""Request payload pieces the suites share: the REST API's ``{"b64": ...}`` wrapper and an
image in a tf.Example, the way the pipeline's data step stores it (the model's ``examples``
input)."""

from __future__ import annotations

import base64

import numpy as np

from models import features
from serving.image_codec import encode_png


def b64(data: bytes, urlsafe: bool = False) -> dict[str, str]:
    """``{"b64": ...}`` as TF Serving's REST API reads binary values; ``urlsafe`` gives the
    URL-safe alphabet without padding, which the server accepts too."""
    if urlsafe:
        return {"b64": base64.urlsafe_b64encode(data).decode().rstrip("=")}
    return {"b64": base64.b64encode(data).decode()}


def image_example(image: np.ndarray) -> bytes:
    """A serialized tf.Example holding ``image`` (uint8 HWC) PNG-encoded under the image key."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    example.features.feature[features.IMAGE_KEY].bytes_list.value.append(encode_png(image))
    return example.SerializeToString()
