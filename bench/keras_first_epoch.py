"""What AutoGraph and XLA cost the reference CNN: first and later epoch times, per setting.

Each setting trains the project's model (``models.model.build_model``) on the same real
training images in a fresh process, since AutoGraph's rules are process-wide:
- ``stock``: TF 2.16 as shipped (AutoGraph transpiles tf_keras's training loop),
- ``fixed``: with ``models.keras_runtime.skip_autograph_for_tf_keras`` (what the project runs),
- ``fixed+xla``: as ``fixed``, compiled with ``jit_compile=True``.

    .venv/bin/python -m bench.keras_first_epoch [--epochs 4] [--limit 2048]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

SETTINGS = ("stock", "fixed", "fixed+xla")


def train(setting: str, data_root: str, epochs: int, limit: int) -> dict:
    """One setting, in this process: epoch times and whether XLA compiled the step."""
    from models import keras_runtime

    keras_runtime.use_tf_keras()
    import tensorflow as tf

    from ingest import cifar10
    from models import model as model_lib

    if setting == "stock":  # undo what build_model would do
        keras_runtime.skip_autograph_for_tf_keras = lambda: None
        model_lib.skip_autograph_for_tf_keras = lambda: None
    batch = cifar10.load_train(data_root)
    images = batch.images[:limit].astype("float32") / 255.0
    labels = batch.labels[:limit]
    model = model_lib.build_model()
    if setting.endswith("xla"):
        model.compile(
            optimizer=model.optimizer,
            loss=model.loss,
            metrics=["sparse_categorical_accuracy"],
            jit_compile=True,
        )
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(64)
    seconds = []
    for _ in range(epochs):
        t0 = time.monotonic()
        model.fit(dataset, epochs=1, verbose=0)
        seconds.append(time.monotonic() - t0)
    return {"setting": setting, "epochs": seconds, "jit_compile": bool(model.jit_compile)}


def main(argv: list[str] | None = None) -> int:
    from ingest import settings as ingest_settings
    from pipeline import configs

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", default=str(ingest_settings.SHARED_DATA_ROOT))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--limit", type=int, default=2048)
    p.add_argument("--setting", choices=SETTINGS, help=argparse.SUPPRESS)  # child process
    args = p.parse_args(argv)
    if args.setting:
        print(json.dumps(train(args.setting, args.data_root, args.epochs, args.limit)))
        return 0
    print(f"reference CNN, {args.limit} real images, batch 64, {args.epochs} epochs per setting")
    print("| setting | first epoch s | median later epoch s | XLA |")
    print("|---|---:|---:|---|")
    for setting in SETTINGS:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.keras_first_epoch",
                "--setting",
                setting,
                "--data-root",
                args.data_root,
                "--epochs",
                str(args.epochs),
                "--limit",
                str(args.limit),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=configs.REPO_ROOT,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"| {setting} | {r['epochs'][0]:.2f} | {statistics.median(r['epochs'][1:]):.2f} "
            f"| {'on' if r['jit_compile'] else 'off'} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
