"""The baseline the pipeline is measured against: the same job as a plain Keras script.

Same data (ingest.cifar10), same train/eval split, same model builder, same seed, epochs,
batch size and early stopping; evaluates on the test batch and exports a SavedModel. No
TFX, no Beam, no statistics, validation or blessing.

    python -m bench.plain_keras --data-root DIR --epochs 10 --export-dir /tmp/plain
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from models import keras_runtime

keras_runtime.prepare_entry_point()  # before anything loads TensorFlow

from ingest import settings as ingest_settings  # noqa: E402
from models.hparams import HParams  # noqa: E402


def train_and_export(
    data_root: str, epochs: int, batch_size: int, export_dir: str, limit: int | None = None
) -> dict:
    import tensorflow as tf
    import tf_keras as keras

    from ingest import cifar10, spans
    from models.model import HISTORY_FILE, EpochHistory, build_model

    t0 = time.monotonic()
    train_all = cifar10.load_train(data_root)
    test = cifar10.load_test(data_root)
    if limit:
        train_all = cifar10.Batch(train_all.images[:limit], train_all.labels[:limit])
        test = cifar10.Batch(test.images[:limit], test.labels[:limit])
    train, evaluation = spans.split_train_eval(
        train_all, ingest_settings.EVAL_FRACTION, ingest_settings.SPLIT_SEED
    )
    hp = HParams()
    keras.utils.set_random_seed(hp.seed)
    scale = lambda b: b.images.astype("float32") / 255.0  # noqa: E731
    model = build_model(hp.learning_rate, hp.dropout_rate)
    history = EpochHistory(os.path.join(export_dir + "-history", HISTORY_FILE))
    model.fit(
        tf.data.Dataset.from_tensor_slices((scale(train), train.labels))
        .shuffle(len(train), seed=hp.seed)
        .batch(batch_size),
        validation_data=(scale(evaluation), evaluation.labels),
        batch_size=batch_size,
        epochs=epochs,
        verbose=2,
        callbacks=[
            history,
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=hp.early_stopping_patience, restore_best_weights=True
            ),
        ],
    )
    _, accuracy = model.evaluate(scale(test), test.labels, batch_size=batch_size, verbose=0)
    model.save(export_dir, save_format="tf")
    return {
        "seconds": time.monotonic() - t0,
        "accuracy": float(accuracy),
        "epoch_seconds": [e["seconds"] for e in history.epochs],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=str(ingest_settings.SHARED_DATA_ROOT))
    p.add_argument("--epochs", type=int, default=HParams.epochs)
    p.add_argument("--batch-size", type=int, default=HParams.batch_size)
    p.add_argument("--limit", type=int)
    p.add_argument("--export-dir", required=True)
    args = p.parse_args(argv)
    result = train_and_export(
        args.data_root, args.epochs, args.batch_size, args.export_dir, args.limit
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
