"""tf.Transform ``preprocessing_fn``: PNG bytes -> float image in [0, 1].

The same graph is attached to every serving signature, so training and serving share one
definition of "an image" (no training/serving skew).
"""

from __future__ import annotations

import tensorflow as tf

from models import features


def decode_images(encoded: tf.Tensor) -> tf.Tensor:
    """Decode a [N] string tensor of PNG/JPEG bytes to float32 [N, 32, 32, 3] in [0, 1]."""

    def _decode(data: tf.Tensor) -> tf.Tensor:
        image = tf.io.decode_image(data, channels=features.IMAGE_CHANNELS, expand_animations=False)
        return tf.ensure_shape(image, features.IMAGE_SHAPE)

    images = tf.map_fn(
        _decode, encoded, fn_output_signature=tf.TensorSpec(features.IMAGE_SHAPE, tf.uint8)
    )
    return tf.cast(images, tf.float32) / 255.0


def preprocessing_fn(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Decode and scale the image; pass the label through (absent at serving time)."""
    encoded = tf.reshape(inputs[features.IMAGE_KEY], [-1])
    outputs = {features.TRANSFORMED_IMAGE_KEY: decode_images(encoded)}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = tf.reshape(inputs[features.LABEL_KEY], [-1])
    return outputs
