"""Trainer module code: the reference CNN and ``run_fn``.

``run_fn`` reads the dataset description from its ``custom_config``, trains the CNN built
for it (input shape, class count) on Transform's output and exports one SavedModel with the
serving signatures of ``models/signatures.py`` and the description itself.
"""

from __future__ import annotations

import json
import posixpath
import time

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx.components.trainer.fn_args_utils import FnArgs
from tfx_bsl.public import tfxio

from models import features
from models.dataset import CIFAR10, DatasetDescription, from_custom_config
from models.hparams import HParams, hparams_config, tuned_values
from models.keras_runtime import skip_autograph_for_tf_keras
from models.signatures import export_description, make_signatures

HISTORY_FILE = "training_history.json"  # per-epoch metrics and seconds, in model_run_dir
MODEL_NAME = "image_cnn"

MIN_FINAL_SIDE = 3  # the last conv's output side: the smallest map worth flattening


def _final_side(side: int, pooling_stages: int) -> int:
    """Side of the last conv's output after ``pooling_stages`` Conv(3x3 valid)-Pool(2) stages."""
    for _ in range(pooling_stages):
        side = (side - 2) // 2
    return side - 2


def pooling_stages(height: int, width: int) -> int:
    """How many Conv-Pool stages the CNN has for an input of ``height`` x ``width``.

    As many as keep the last conv's output at least :data:`MIN_FINAL_SIDE` on the shorter
    side: 2 for CIFAR's 32x32 (today's model), 1 for 16x16, 3 for 64x64, 5 for 224x224, so
    the dense head sees a small map whatever the image size. Raises ``ValueError`` for an
    input too small for even one convolution to leave that much.
    """
    side = min(height, width)
    if _final_side(side, 0) < MIN_FINAL_SIDE:
        raise ValueError(
            f"input {height}x{width} is too small for the CNN: each side must be at least "
            f"{MIN_FINAL_SIDE + 2} pixels (choose a larger --image-size)"
        )
    stages = 0
    while _final_side(side, stages + 1) >= MIN_FINAL_SIDE:
        stages += 1
    return stages


def conv_widths(stages: int, conv1: int, conv2: int, conv3: int) -> list[int]:
    """Filters of the ``stages + 1`` convolutions: ``conv1`` first, ``conv3`` last, ``conv2``
    between (CIFAR's 2 stages: ``[conv1, conv2, conv3]``); a lone conv is ``conv1``."""
    if stages == 0:
        return [conv1]
    return [conv1, *[conv2] * (stages - 1), conv3]


def build_model(
    learning_rate: float = HParams.learning_rate,
    dropout_rate: float = HParams.dropout_rate,
    *,
    description: DatasetDescription = CIFAR10,
    conv1_filters: int = HParams.conv1_filters,
    conv2_filters: int = HParams.conv2_filters,
    conv3_filters: int = HParams.conv3_filters,
    dense_units: int = HParams.dense_units,
) -> keras.Model:
    """(Conv-Pool) x stages, Conv, Flatten, Dense, Dropout, Dense(classes, softmax).

    The input shape and the number of classes are the description's; the number of Conv-Pool
    stages follows the input size (:func:`pooling_stages`). For CIFAR-10 (32x32x3, 10
    classes) this is the reference CNN, layer for layer:
    Conv(32)-Pool-Conv(64)-Pool-Conv(64)-Flatten-Dense(64)-Dropout-Dense(10).
    The widths are parameters so the Tuner can search them; the defaults are the reference
    CNN, so a run without tuning trains the same model as before they were.
    """
    skip_autograph_for_tf_keras()
    layers = keras.layers
    stages = pooling_stages(description.height, description.width)
    widths = conv_widths(stages, conv1_filters, conv2_filters, conv3_filters)
    inputs = keras.Input(shape=description.image_shape, name=features.TRANSFORMED_IMAGE_KEY)
    x = inputs
    for filters in widths[:-1]:
        x = layers.Conv2D(filters, 3, activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(widths[-1], 3, activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    x = layers.Dropout(dropout_rate)(x)
    outputs = layers.Dense(
        description.num_classes, activation="softmax", name=features.OUTPUT_PROBABILITIES
    )(x)
    model = keras.Model(inputs, outputs, name=MODEL_NAME)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        # XLA is off by default in tf_keras; stated here because it is a measured choice:
        # on this CPU an XLA step was 4x slower (bench/keras_first_epoch.py).
        jit_compile=False,
    )
    return model


def model_from_hparams(hp: HParams, description: DatasetDescription = CIFAR10) -> keras.Model:
    """The compiled CNN for ``hp`` and the dataset: the one mapping from HParams to
    :func:`build_model`."""
    return build_model(
        hp.learning_rate,
        hp.dropout_rate,
        description=description,
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

# Decoded float images of all splits above this size are not kept in memory: each epoch then
# decodes again and shuffles within a buffer of this size (CIFAR-10's 5,000 images: 61 MB).
DECODED_CACHE_BUDGET_BYTES = 2 * 1024**3


def decoded_bytes(description: DatasetDescription) -> int:
    """Bytes of all the description's images decoded to the model's float32 input."""
    images = sum(sum(per_class.values()) for per_class in description.counts.values())
    height, width, channels = description.image_shape
    return images * height * width * channels * 4


def _cached_examples(
    fn_args: FnArgs,
    file_pattern: list[str],
    tf_transform_output: tft.TFTransformOutput,
    in_memory: bool = True,
) -> tf.data.Dataset:
    """Raw examples -> the Transform graph -> (image, label) pairs, cached in memory.

    Transform does not materialize its output (``materialize=False``): writing 12 KB of
    float pixels per image as gzip'd tf.Examples, and parsing them back every epoch, cost
    more than decoding the 2.5 KB PNGs once here with the very graph that serving uses.
    The decoded images are cached after the first pass (4 KB x 3 per image: about 0.75 GB
    at full CIFAR-10 scale). The Tuner batches the same cached dataset for every trial, so
    a search decodes the split once, not once per trial. A dataset whose decoded images
    exceed :data:`DECODED_CACHE_BUDGET_BYTES` is not cached (``in_memory=False``).
    """
    tft_layer = tf_transform_output.transform_features_layer()

    # No Python control flow here: AutoGraph would only transpile tf.Transform's and
    # tf_keras's internals (10 s of the first epoch, measured).
    @tf.autograph.experimental.do_not_convert
    def transform(raw: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        transformed = tft_layer(raw)
        return transformed[features.TRANSFORMED_IMAGE_KEY], transformed[features.LABEL_KEY]

    examples = (
        fn_args.data_accessor.tf_dataset_factory(
            file_pattern,
            tfxio.TensorFlowDatasetOptions(batch_size=_READ_BATCH, shuffle=False, num_epochs=1),
            tf_transform_output.raw_metadata.schema,
        )
        .map(transform, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
    )
    return examples.cache() if in_memory else examples


def _batches(
    examples: tf.data.Dataset,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """(Shuffled) batches of cached examples, shuffled anew every epoch over the whole split.

    The same seed gives the same epoch orders on every new pipeline built here, so each
    tuning trial sees the data in the order the Trainer will. ``shuffle_buffer`` bounds the
    shuffle (uncached data); ``None`` shuffles the whole split.
    """
    if shuffle:
        size = shuffle_buffer or examples.reduce(
            tf.constant(0, tf.int64), lambda count, _: count + 1
        )
        examples = examples.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    return examples.batch(batch_size).prefetch(tf.data.AUTOTUNE)


class TrainingData:
    """A run's train and eval splits, decoded once and batched per set of hyperparameters.

    ``run_fn`` batches them once; the Tuner once per trial, so every trial trains on exactly
    what the Trainer would (same transform, cache, shuffling and ``train_steps`` cap).
    """

    def __init__(
        self,
        fn_args: FnArgs,
        tf_transform_output: tft.TFTransformOutput,
        description: DatasetDescription = CIFAR10,
    ) -> None:
        check_transform_matches(tf_transform_output, description)
        in_memory = decoded_bytes(description) <= DECODED_CACHE_BUDGET_BYTES
        image_bytes = 4 * description.height * description.width * description.channels
        self.shuffle_buffer = None if in_memory else DECODED_CACHE_BUDGET_BYTES // image_bytes
        self.train = _cached_examples(fn_args, fn_args.train_files, tf_transform_output, in_memory)
        self.eval = _cached_examples(fn_args, fn_args.eval_files, tf_transform_output, in_memory)
        self.train_steps = fn_args.train_steps

    def batched(self, hp: HParams) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        """(train, eval) batches for ``hp``'s batch size and seed."""
        train = _batches(self.train, hp.batch_size, True, hp.seed, self.shuffle_buffer)
        evaluation = _batches(self.eval, hp.batch_size, shuffle=False, seed=hp.seed)
        if self.train_steps:
            train = train.repeat().take(int(self.train_steps))
        return train, evaluation


def check_transform_matches(
    tf_transform_output: tft.TFTransformOutput, description: DatasetDescription
) -> None:
    """Refuse a Transform graph built for another image shape than the Trainer's description.

    Transform and Trainer get the description from the same run; if they ever disagree the
    model would be built for one shape and fed another, which Keras reports only as a shape
    error deep inside ``fit``.
    """
    spec = tf_transform_output.transformed_feature_spec()[features.TRANSFORMED_IMAGE_KEY]
    if tuple(spec.shape) != description.image_shape:
        raise ValueError(
            f"the Transform graph makes images of shape {tuple(spec.shape)} but the dataset "
            f"description says {description.image_shape}: Transform and Trainer must get the "
            "same description (custom_config key 'dataset')"
        )


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    evaluation: tf.data.Dataset,
    hp: HParams,
    history: EpochHistory,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> None:
    """``model.fit`` as the Trainer runs it (epochs, early stopping), shared with the Tuner.

    Early stopping restores the weights of the lowest ``val_loss`` epoch when training ends,
    whether or not it stopped the run early (tf_keras' ``on_train_end``); a tuning trial scores
    the model as it leaves this function, which is the model ``run_fn`` would export.
    """
    callbacks = [
        history,
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=hp.early_stopping_patience, restore_best_weights=True
        ),
        *(extra_callbacks or []),
    ]
    model.fit(train, validation_data=evaluation, epochs=hp.epochs, callbacks=callbacks, verbose=2)


def run_fn(fn_args: FnArgs) -> None:
    """Train the reference CNN on transformed examples and export it for serving.

    The dataset description is ``custom_config["dataset"]`` (CIFAR-10 when absent): the
    model's input shape, its classes and the names the signatures answer. Hyperparameters:
    ``HParams`` defaults, then the rest of ``custom_config``, then the Tuner's best values
    (``fn_args.hyperparameters``) when the pipeline ran one; all strictly checked. The
    description is exported with the model (``assets.extra/dataset.json``).
    """
    run_started = time.monotonic()
    skip_autograph_for_tf_keras()
    description = from_custom_config(fn_args.custom_config)
    hp = HParams.from_custom_config(
        {**hparams_config(fn_args.custom_config), **tuned_values(fn_args.hyperparameters)}
    )
    keras.utils.set_random_seed(hp.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    train, evaluation = TrainingData(fn_args, tf_transform_output, description).batched(hp)

    started = time.monotonic()
    model = model_from_hparams(hp, description)
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
        signatures=make_signatures(model, tf_transform_output, description),
    )
    export_description(fn_args.serving_model_dir, description)
    history.write(
        fit_seconds=fit_seconds,
        fit_and_export_seconds=time.monotonic() - started,
        run_fn_seconds=time.monotonic() - run_started,
    )
