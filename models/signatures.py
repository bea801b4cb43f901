"""The exported model's serving signatures and the description that travels with it.

Three serving signatures (serialized ``tf.Example``, uint8 images at the model's input size,
encoded image bytes of any size and format) and one for batch scoring (``bulk_inference``:
tf.Examples in, no string output, which TFX's BulkInferrer cannot log) all feed the same
tf.Transform layer, so clients may send
any form and get identical predictions, and an image of another size is resized exactly as
training resized it. Each answers probabilities, class ids and the dataset's class names.
Those taking bytes from clients refuse a decompression bomb from its header first.
The input signature of ``serving_images`` carries the model's [H, W, C], so TF Serving's
model metadata says which size to send; the full description is exported beside the graph.
"""

from __future__ import annotations

import posixpath
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from models import features, preprocessing
from models.dataset import DESCRIPTION_FILE, MODEL_EXTRA_DIR, DatasetDescription


def make_signatures(
    model: keras.Model,
    tf_transform_output: tft.TFTransformOutput,
    description: DatasetDescription,
) -> dict[str, Any]:
    """The serving signatures and the BulkInferrer's, all through the Transform layer."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    class_names = tf.constant(description.class_names)
    raw_spec = tf_transform_output.raw_feature_spec()
    raw_spec.pop(features.LABEL_KEY, None)
    numeric_outputs = (features.OUTPUT_PROBABILITIES, features.OUTPUT_CLASS_IDS)

    def predict_encoded(encoded: tf.Tensor) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer({features.IMAGE_KEY: tf.reshape(encoded, [-1, 1])})
        probabilities = model(transformed[features.TRANSFORMED_IMAGE_KEY], training=False)
        class_ids = tf.argmax(probabilities, axis=-1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_CLASSES: tf.gather(class_names, class_ids),
        }

    # autograph=False: no Python control flow on tensors here, and converting would only
    # transpile tf.Transform's internals (about 1 s of every export, measured).
    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)],
        autograph=False,
    )
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, raw_spec)
        return predict_encoded(preprocessing.refuse_oversized(parsed[features.IMAGE_KEY]))

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)],
        autograph=False,
    )
    def bulk_inference(examples):
        outputs = serve_examples(examples)
        return {key: outputs[key] for key in numeric_outputs}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *description.image_shape], tf.uint8, name=features.INPUT_IMAGES)
        ],
        autograph=False,
    )
    def serve_images(images):
        # PNG is lossless: encoding here lets raw pixels take the exact Transform path.
        encoded = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)
        return predict_encoded(encoded)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_IMAGE_BYTES)],
        autograph=False,
    )
    def serve_image_bytes(image_bytes):
        return predict_encoded(preprocessing.refuse_oversized(image_bytes))

    return {
        features.SIGNATURE_EXAMPLES: serve_examples.get_concrete_function(),
        features.SIGNATURE_BULK_INFERENCE: bulk_inference.get_concrete_function(),
        features.SIGNATURE_IMAGES: serve_images.get_concrete_function(),
        features.SIGNATURE_IMAGE_BYTES: serve_image_bytes.get_concrete_function(),
    }


def export_description(serving_model_dir: str, description: DatasetDescription) -> str:
    """Write the description into the exported model (``assets.extra/dataset.json``).

    Serving-side tools, the report and rollout read class names and the input shape from
    the model alone (``models.dataset.from_model``); the Pusher copies the folder whole.
    ``tf.io.gfile``: the model directory may be on GCS/S3/HDFS on a cluster.
    """
    directory = posixpath.join(serving_model_dir, MODEL_EXTRA_DIR)
    tf.io.gfile.makedirs(directory)
    path = posixpath.join(directory, DESCRIPTION_FILE)
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(description.to_json() + "\n")
    return path
