"""Tiny SavedModels with the real model's serving signatures, for fault injection
(``python -m demos.release --inject-faulty``) and fast tests.

Behaviours:

* ``constant`` - answers class 0 for every image (a collapsed model),
* ``error``    - every prediction fails at run time (INVALID_ARGUMENT),
* ``brightness`` - a healthy-looking stand-in: the class is the image's mean brightness
  in K equal steps (K classes), so its predictions spread over the classes like real
  inputs do.

All take the same inputs as models/model.py's export (examples / images / image_bytes) for
a dataset description (default CIFAR-10: 32x32x3, ten classes; pass the served model's to
stand in for it), return probabilities [N, K], class_ids [N], classes [N], and carry the
description (``assets.extra/dataset.json``) as the Trainer's export does.
"""

from __future__ import annotations

from pathlib import Path

from models.dataset import CIFAR10, DatasetDescription

BEHAVIOURS = ("constant", "error", "brightness")


def write_model(
    path: Path | str, behaviour: str, description: DatasetDescription = CIFAR10
) -> Path:
    """Export a model with ``behaviour`` for ``description``'s images and classes to
    ``path`` (a TF Serving version folder)."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown behaviour {behaviour!r}; choose from {BEHAVIOURS}")
    import tensorflow as tf

    from models import features
    from models.signatures import export_description

    class_names = tf.constant(description.class_names)
    k, shape = description.num_classes, description.image_shape

    def predict(images: tf.Tensor) -> dict[str, tf.Tensor]:
        pixels = tf.cast(images, tf.float32) / 255.0
        n = tf.shape(pixels)[0]
        if behaviour == "constant":
            class_ids = tf.zeros([n], tf.int64)
        elif behaviour == "error":
            with tf.control_dependencies(
                [
                    tf.debugging.assert_equal(
                        n, -1, message="injected fault: this model version always fails"
                    )
                ]
            ):
                class_ids = tf.zeros([n], tf.int64)
        else:
            brightness = tf.reduce_mean(pixels, axis=[1, 2, 3])
            class_ids = tf.cast(tf.clip_by_value(tf.floor(brightness * k), 0, k - 1), tf.int64)
        probabilities = tf.one_hot(class_ids, k, dtype=tf.float32)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_CLASSES: tf.gather(class_names, class_ids),
        }

    def decode(encoded: tf.Tensor) -> tf.Tensor:
        return tf.map_fn(
            lambda b: tf.ensure_shape(
                tf.io.decode_image(b, channels=shape[2], expand_animations=False), shape
            ),
            encoded,
            fn_output_signature=tf.TensorSpec(shape, tf.uint8),
        )

    module = tf.Module()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)])
    def serve_examples(examples):
        parsed = tf.io.parse_example(
            examples, {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return predict(decode(parsed[features.IMAGE_KEY]))

    @tf.function(
        input_signature=[tf.TensorSpec([None, *shape], tf.uint8, name=features.INPUT_IMAGES)]
    )
    def serve_images(images):
        return predict(images)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_IMAGE_BYTES)]
    )
    def serve_image_bytes(image_bytes):
        return predict(decode(image_bytes))

    module.serve_examples = serve_examples
    module.serve_images = serve_images
    module.serve_image_bytes = serve_image_bytes
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            features.SIGNATURE_EXAMPLES: serve_examples.get_concrete_function(),
            features.SIGNATURE_IMAGES: serve_images.get_concrete_function(),
            features.SIGNATURE_IMAGE_BYTES: serve_image_bytes.get_concrete_function(),
        },
    )
    export_description(str(path), description)
    return Path(path)
