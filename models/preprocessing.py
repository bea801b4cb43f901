"""tf.Transform ``preprocessing_fn``: encoded image bytes -> float image in [0, 1].

Ingest keeps every image as it was given (any size, PNG/JPEG/GIF/BMP, gray or colour); the
model's input shape comes from the dataset description. Decoding, the channel conversion and
the resize all happen here, in the graph, and the same graph is attached to every serving
signature: training and serving share one definition of "an image" (no training/serving
skew), whatever a client sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from models import dataset, features


def _decode_to_channels(data: tf.Tensor, channels: int) -> tf.Tensor:
    """One encoded image -> uint8 [h, w, channels] (h, w as stored).

    Colour: ``decode_image(channels=3)`` converts gray, gray+alpha, RGBA and palette itself
    (today's CIFAR-10 graph, unchanged). Gray: GIF and BMP cannot be decoded to one channel
    directly, so decode as stored and convert: gray stays as it is (a uint8 gray image round
    trips exactly), gray+alpha drops alpha, colour goes through the standard luminance.
    """
    if channels == 3:
        return tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.io.decode_image(data, channels=0, expand_animations=False)
    stored = tf.shape(image)[-1]
    return tf.cond(
        stored < 3,
        lambda: image[..., :1],
        lambda: tf.image.rgb_to_grayscale(image[..., :3]),
    )


def _to_model_size(image: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """uint8 [h, w, c] -> float32 [height, width, c] in [0, 1].

    An image already at the model's size is only scaled (bit for bit what the graph did
    before sizes varied); others are resized with bilinear interpolation and antialiasing
    (a plain bilinear downscale skips pixels and aliases). The aspect ratio is not kept:
    the image is stretched to the model's shape, as Keras' ``image_dataset_from_directory``
    does by default.
    """
    scaled = tf.cast(image, tf.float32) / 255.0
    shape = tf.shape(image)
    same_size = tf.logical_and(tf.equal(shape[0], height), tf.equal(shape[1], width))

    def resized() -> tf.Tensor:
        out = tf.image.resize(scaled, [height, width], method="bilinear", antialias=True)
        return tf.clip_by_value(out, 0.0, 1.0)

    return tf.cond(same_size, lambda: scaled, resized)


def decode_images(
    encoded: tf.Tensor, description: dataset.DatasetDescription = dataset.CIFAR10
) -> tf.Tensor:
    """Decode a [N] string tensor of encoded images to float32 [N, H, W, C] in [0, 1].

    ``H``, ``W``, ``C`` are the description's; any format TensorFlow decodes is accepted
    (the first frame of an animation). Bytes that are not an image fail the batch with
    TensorFlow's ``InvalidArgumentError``.
    """
    height, width, channels = description.image_shape

    def decode_one(data: tf.Tensor) -> tf.Tensor:
        image = _decode_to_channels(data, channels)
        return tf.ensure_shape(_to_model_size(image, height, width), description.image_shape)

    return tf.map_fn(
        decode_one,
        encoded,
        fn_output_signature=tf.TensorSpec(description.image_shape, tf.float32),
    )


def preprocessing_fn(
    inputs: dict[str, tf.Tensor], custom_config: Mapping[str, Any] | None = None
) -> dict[str, tf.Tensor]:
    """Decode, convert and resize the image to the description's shape; pass the label through.

    TFX's Transform passes ``custom_config`` because this function accepts it; the dataset
    description is its ``dataset`` key (CIFAR-10 when absent). The label is absent at
    serving time.
    """
    description = dataset.from_custom_config(custom_config)
    encoded = tf.reshape(inputs[features.IMAGE_KEY], [-1])
    outputs = {features.TRANSFORMED_IMAGE_KEY: decode_images(encoded, description)}
    if features.LABEL_KEY in inputs:
        outputs[features.LABEL_KEY] = tf.reshape(inputs[features.LABEL_KEY], [-1])
    return outputs
