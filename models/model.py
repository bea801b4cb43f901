"""Trainer module code: the reference CNN, ``run_fn`` and the serving signatures.

``run_fn`` trains on Transform's output and exports one SavedModel with three signatures
(serialized ``tf.Example``, uint8 images, encoded image bytes). All three feed the same
tf.Transform layer, so clients may send any form and get identical predictions.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models import features

# Defaults used when the pipeline passes no custom_config (e.g. unit tests).
DEFAULT_HPARAMS = {
    "epochs": 10,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "dropout_rate": 0.3,
    "early_stopping_patience": 3,
    "seed": 42,
}


def build_model(learning_rate: float = 1e-3, dropout_rate: float = 0.3) -> keras.Model:
    """Conv(32)-Pool-Conv(64)-Pool-Conv(64)-Flatten-Dense(64)-Dropout-Dense(10, softmax)."""
    layers = keras.layers
    inputs = keras.Input(shape=features.IMAGE_SHAPE, name=features.TRANSFORMED_IMAGE_KEY)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(features.NUM_CLASSES, activation="softmax",
                           name=features.OUTPUT_PROBABILITIES)(x)
    model = keras.Model(inputs, outputs, name="cifar10_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def _dataset(fn_args: FnArgs, file_pattern: list[str],
             tf_transform_output: tft.TFTransformOutput, batch_size: int,
             shuffle: bool, seed: int) -> tf.data.Dataset:
    return fn_args.data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=features.LABEL_KEY,
                                       shuffle=shuffle, shuffle_seed=seed, num_epochs=1),
        tf_transform_output.transformed_metadata.schema,
    ).prefetch(tf.data.AUTOTUNE)


def make_signatures(model: keras.Model,
                    tf_transform_output: tft.TFTransformOutput) -> dict[str, Any]:
    """The three serving signatures, all through the Transform layer."""
    model.tft_layer = tf_transform_output.transform_features_layer()
    class_names = tf.constant(features.LABEL_NAMES)
    raw_spec = tf_transform_output.raw_feature_spec()
    raw_spec.pop(features.LABEL_KEY, None)

    def predict_encoded(encoded: tf.Tensor) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer({features.IMAGE_KEY: tf.reshape(encoded, [-1, 1])})
        probabilities = model(transformed[features.TRANSFORMED_IMAGE_KEY], training=False)
        class_ids = tf.argmax(probabilities, axis=-1)
        return {
            features.OUTPUT_PROBABILITIES: probabilities,
            features.OUTPUT_CLASS_IDS: class_ids,
            features.OUTPUT_CLASSES: tf.gather(class_names, class_ids),
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)])
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, raw_spec)
        return predict_encoded(parsed[features.IMAGE_KEY])

    @tf.function(input_signature=[
        tf.TensorSpec([None, *features.IMAGE_SHAPE], tf.uint8, name=features.INPUT_IMAGES)])
    def serve_images(images):
        # PNG is lossless: encoding here lets raw pixels take the exact Transform path.
        encoded = tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)
        return predict_encoded(encoded)

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name=features.INPUT_IMAGE_BYTES)])
    def serve_image_bytes(image_bytes):
        return predict_encoded(image_bytes)

    return {
        features.SIGNATURE_EXAMPLES: serve_examples.get_concrete_function(),
        features.SIGNATURE_IMAGES: serve_images.get_concrete_function(),
        features.SIGNATURE_IMAGE_BYTES: serve_image_bytes.get_concrete_function(),
    }


def run_fn(fn_args: FnArgs) -> None:
    """Train the reference CNN on transformed examples and export it for serving."""
    hp = {**DEFAULT_HPARAMS, **(fn_args.custom_config or {})}
    keras.utils.set_random_seed(int(hp["seed"]))
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train = _dataset(fn_args, fn_args.train_files, tf_transform_output,
                     int(hp["batch_size"]), shuffle=True, seed=int(hp["seed"]))
    evaluation = _dataset(fn_args, fn_args.eval_files, tf_transform_output,
                          int(hp["batch_size"]), shuffle=False, seed=int(hp["seed"]))
    if fn_args.train_steps:
        train = train.repeat().take(int(fn_args.train_steps))

    model = build_model(float(hp["learning_rate"]), float(hp["dropout_rate"]))
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss",
                                      patience=int(hp["early_stopping_patience"]),
                                      restore_best_weights=True),
        keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
    ]
    model.fit(train, validation_data=evaluation, epochs=int(hp["epochs"]),
              callbacks=callbacks, verbose=2)
    model.save(fn_args.serving_model_dir, save_format="tf",
               signatures=make_signatures(model, tf_transform_output))
