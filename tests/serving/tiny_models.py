"""Tiny SavedModels with the pipeline model's signatures, for fast serving tests.

Same signature names, inputs and outputs as ``models.model.make_signatures`` (serialized
tf.Example, uint8 images, encoded image bytes -> probabilities, class_ids, classes), but no
training: class ``version % 10`` wins by a wide margin, so every answer tells which version
served it. Built in well under a second each.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import tensorflow as tf

from models import features
from models.dataset import CIFAR10


class _Tiny(tf.Module):
    def __init__(self, version: int) -> None:
        super().__init__()
        self.bias = tf.Variable(
            5.0 * tf.one_hot(version % CIFAR10.num_classes, CIFAR10.num_classes)
        )
        self.weights = tf.Variable(tf.range(CIFAR10.num_classes, dtype=tf.float32) * 0.1)
        self.class_names = tf.constant(CIFAR10.class_names)

    def _predict(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        mean = tf.reduce_mean(tf.cast(images, tf.float32) / 255.0, axis=[1, 2, 3])
        probabilities = tf.nn.softmax(mean[:, None] * self.weights + self.bias)
        class_ids = tf.argmax(probabilities, axis=-1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_CLASSES: tf.gather(self.class_names, class_ids),
        }

    def _decode(self, encoded: tf.Tensor) -> tf.Tensor:
        return tf.map_fn(
            lambda b: tf.ensure_shape(
                tf.io.decode_image(b, channels=3, expand_animations=False), CIFAR10.image_shape
            ),
            encoded,
            fn_output_signature=tf.uint8,
        )

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def examples(self, examples):
        parsed = tf.io.parse_example(
            examples, {features.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)}
        )
        return self._predict(self._decode(parsed[features.IMAGE_KEY]))

    @tf.function(input_signature=[tf.TensorSpec([None, *CIFAR10.image_shape], tf.uint8)])
    def images(self, images):
        return self._predict(images)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def image_bytes(self, image_bytes):
        return self._predict(self._decode(image_bytes))


def build_tiny_model(path: Path, version: int) -> Path:
    """Write a tiny model whose predictions say ``version`` (as class ``version % 10``)."""
    module = _Tiny(version)
    # Named inputs as in the real model: examples / images / image_bytes.
    sigs = {
        features.SIGNATURE_EXAMPLES: tf.function(
            lambda examples: module.examples(examples),
            input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)],
        ),
        features.SIGNATURE_IMAGES: tf.function(
            lambda images: module.images(images),
            input_signature=[
                tf.TensorSpec([None, *CIFAR10.image_shape], tf.uint8, name=features.INPUT_IMAGES)
            ],
        ),
        features.SIGNATURE_IMAGE_BYTES: tf.function(
            lambda image_bytes: module.image_bytes(image_bytes),
            input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_IMAGE_BYTES)],
        ),
    }
    tf.saved_model.save(module, str(path), signatures=sigs)
    return path


def build_classify_model(path: Path) -> Path:
    """A TF1-style model with a ``tensorflow/serving/classify`` signature (input: tf.Example
    with float feature ``x``; classes ["pos","neg"], scores [x, 1-x])."""
    with tf.Graph().as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        x = tf.io.parse_example(serialized, {"x": tf.io.FixedLenFeature([1], tf.float32)})["x"]
        scores = tf.concat([x, 1.0 - x], axis=1)
        classes = tf.tile(tf.constant([["pos", "neg"]]), [tf.shape(x)[0], 1])
        sig = tf.compat.v1.saved_model.classification_signature_def(serialized, classes, scores)
        with tf.compat.v1.Session() as sess:
            builder = tf.compat.v1.saved_model.Builder(str(path))
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={"serving_default": sig}
            )
            builder.save()
    return path


def push(src: Path, base: Path, version: int) -> Path:
    """Copy a model into ``base/<version>`` the way the Pusher does: temp dir, then rename."""
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{version}"
    shutil.copytree(src, tmp)
    final = base / str(version)
    os.replace(tmp, final)
    return final
