"""Trainer module code: the reference CNN, ``run_fn`` and the serving signatures.

``run_fn`` trains on Transform's output and exports one SavedModel with three signatures
(serialized ``tf.Example``, uint8 images, encoded image bytes). All three feed the same
tf.Transform layer, so clients may send any form and get identical predictions.
"""

from __future__ import annotations

import json
import posixpath
import time
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models import features
from models.hparams import HParams, tuned_values
from models.keras_runtime import skip_autograph_for_tf_keras

HISTORY_FILE = "training_history.json"  # per-epoch metrics and seconds, in model_run_dir


def build_model(
    learning_rate: float = HParams.learning_rate,
    dropout_rate: float = HParams.dropout_rate,
    *,
    conv1_filters: int = HParams.conv1_filters,
    conv2_filters: int = HParams.conv2_filters,
    conv3_filters: int = HParams.conv3_filters,
    dense_units: int = HParams.dense_units,
) -> keras.Model:
    """Conv(32)-Pool-Conv(64)-Pool-Conv(64)-Flatten-Dense(64)-Dropout-Dense(10, softmax).

    The widths are parameters so the Tuner can search them; the defaults are the reference
    CNN, so a run without tuning trains the same model as before they were.
    """
    skip_autograph_for_tf_keras()
    layers = keras.layers
    inputs = keras.Input(shape=features.IMAGE_SHAPE, name=features.TRANSFORMED_IMAGE_KEY)
    x = layers.Conv2D(conv1_filters, 3, activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(conv2_filters, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(conv3_filters, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(
        features.NUM_CLASSES, activation="softmax", name=features.OUTPUT_PROBABILITIES
    )(x)
    model = keras.Model(inputs, outputs, name="cifar10_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        # XLA is off by default in tf_keras; stated here because it is a measured choice:
        # on this CPU an XLA step was 4x slower (bench/keras_first_epoch.py).
        jit_compile=False,
    )
    return model


def model_from_hparams(hp: HParams) -> keras.Model:
    """The compiled CNN for ``hp``: the one mapping from HParams to :func:`build_model`."""
    return build_model(
        hp.learning_rate,
        hp.dropout_rate,
        conv1_filters=hp.conv1_filters,
        conv2_filters=hp.conv2_filters,
        conv3_filters=hp.conv3_filters,
        dense_units=hp.dense_units,
    )


class EpochHistory(keras.callbacks.Callback):
    """Writes each epoch's metrics and wall seconds to ``path`` as it ends.

    The run report draws the training curves from it and the benchmark compares the
    Trainer's wall time with the epochs' own time; written after every epoch so a failed
    run still shows how far it got.
    """

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.epochs: list[dict[str, float]] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.monotonic()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, "seconds": time.monotonic() - self._started}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.epochs.append(row)
        self.write()

    def write(self, **extra: float) -> None:
        # tf.io.gfile: model_run_dir may be on GCS/S3/HDFS on a cluster.
        tf.io.gfile.makedirs(posixpath.dirname(self.path))
        with tf.io.gfile.GFile(self.path, "w") as f:
            f.write(json.dumps({"epochs": self.epochs, **extra}, indent=1))


_READ_BATCH = 256  # records per read-and-transform step (vectorised decode), not the training batch


def _cached_examples(
    fn_args: FnArgs, file_pattern: list[str], tf_transform_output: tft.TFTransformOutput
) -> tf.data.Dataset:
    """Raw examples -> the Transform graph -> (image, label) pairs cached in memory.

    Transform does not materialize its output (``materialize=False``): writing 12 KB of
    float pixels per image as gzip'd tf.Examples, and parsing them back every epoch, cost
    more than decoding the 2.5 KB PNGs once here with the very graph that serving uses.
    The decoded images are cached after the first pass (4 KB x 3 per image: about 0.75 GB
    at full CIFAR-10 scale). The Tuner batches the same cached dataset for every trial, so
    a search decodes the split once, not once per trial.
    """
    tft_layer = tf_transform_output.transform_features_layer()

    # No Python control flow here: AutoGraph would only transpile tf.Transform's and
    # tf_keras's internals (10 s of the first epoch, measured).
    @tf.autograph.experimental.do_not_convert
    def transform(raw: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        transformed = tft_layer(raw)
        return transformed[features.TRANSFORMED_IMAGE_KEY], transformed[features.LABEL_KEY]

    return (
        fn_args.data_accessor.tf_dataset_factory(
            file_pattern,
            tfxio.TensorFlowDatasetOptions(batch_size=_READ_BATCH, shuffle=False, num_epochs=1),
            tf_transform_output.raw_metadata.schema,
        )
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        .cache()
    )


def _batches(
    examples: tf.data.Dataset, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """(Shuffled) batches of cached examples, shuffled anew every epoch over the whole split.

    The same seed gives the same epoch orders on every new pipeline built here, so each
    tuning trial sees the data in the order the Trainer will.
    """
    if shuffle:
        size = examples.reduce(tf.constant(0, tf.int64), lambda count, _: count + 1)
        examples = examples.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class TrainingData:
    """A run's train and eval splits, decoded once and batched per set of hyperparameters.

    ``run_fn`` batches them once; the Tuner once per trial, so every trial trains on exactly
    what the Trainer would (same transform, cache, shuffling and ``train_steps`` cap).
    """

    def __init__(self, fn_args: FnArgs, tf_transform_output: tft.TFTransformOutput) -> None:
        self.train = _cached_examples(fn_args, fn_args.train_files, tf_transform_output)
        self.eval = _cached_examples(fn_args, fn_args.eval_files, tf_transform_output)
        self.train_steps = fn_args.train_steps

    def batched(self, hp: HParams) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """(train, eval) batches for ``hp``'s batch size and seed."""
        train = _batches(self.train, hp.batch_size, shuffle=True, seed=hp.seed)
        evaluation = _batches(self.eval, hp.batch_size, shuffle=False, seed=hp.seed)
        if self.train_steps:
            train = train.repeat().take(int(self.train_steps))
        return train, evaluation


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    evaluation: tf.data.Dataset,
    hp: HParams,
    history: EpochHistory,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> None:
    """``model.fit`` as the Trainer runs it (epochs, early stopping), shared with the Tuner.

    Early stopping restores the best weights only when it stops the run; a tuning trial
    scores the model as it leaves this function, which is the model ``run_fn`` would export.
    """
    callbacks = [
        history,
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=hp.early_stopping_patience, restore_best_weights=True
        ),
        *(extra_callbacks or []),
    ]
    model.fit(train, validation_data=evaluation, epochs=hp.epochs, callbacks=callbacks, verbose=2)


def make_signatures(
    model: keras.Model, tf_transform_output: tft.TFTransformOutput
) -> dict[str, Any]:
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

    # autograph=False: no Python control flow on tensors here, and converting would only
    # transpile tf.Transform's internals (about 1 s of every export, measured).
    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string, name=features.INPUT_EXAMPLES)],
        autograph=False,
    )
    def serve_examples(examples):
        parsed = tf.io.parse_example(examples, raw_spec)
        return predict_encoded(parsed[features.IMAGE_KEY])

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, *features.IMAGE_SHAPE], tf.uint8, name=features.INPUT_IMAGES)
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
        return predict_encoded(image_bytes)

    return {
        features.SIGNATURE_EXAMPLES: serve_examples.get_concrete_function(),
        features.SIGNATURE_IMAGES: serve_images.get_concrete_function(),
        features.SIGNATURE_IMAGE_BYTES: serve_image_bytes.get_concrete_function(),
    }


def run_fn(fn_args: FnArgs) -> None:
    """Train the reference CNN on transformed examples and export it for serving.

    Hyperparameters: ``HParams`` defaults, then ``custom_config``, then the Tuner's best
    values (``fn_args.hyperparameters``) when the pipeline ran one; all strictly checked.
    """
    run_started = time.monotonic()
    skip_autograph_for_tf_keras()
    hp = HParams.from_custom_config(
        {**(fn_args.custom_config or {}), **tuned_values(fn_args.hyperparameters)}
    )
    keras.utils.set_random_seed(hp.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train, evaluation = TrainingData(fn_args, tf_transform_output).batched(hp)

    started = time.monotonic()
    model = model_from_hparams(hp)
    history = EpochHistory(posixpath.join(fn_args.model_run_dir, HISTORY_FILE))
    fit(
        model,
        train,
        evaluation,
        hp,
        history,
        extra_callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch")
        ],
    )
    fit_seconds = time.monotonic() - started
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=make_signatures(model, tf_transform_output),
    )
    history.write(
        fit_seconds=fit_seconds,
        fit_and_export_seconds=time.monotonic() - started,
        run_fn_seconds=time.monotonic() - run_started,
    )
